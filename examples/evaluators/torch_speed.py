#!/usr/bin/env python3
"""Training speed of a layernas network in PyTorch, for `cargo bench -p layernas-train`.

    python3 examples/evaluators/torch_speed.py --network net.json --images 512 --batch 64

Builds the network description with train_pytorch.py's builder, trains one warm-up epoch and three
timed ones on random 28x28 images (SGD, the same batch size, one CPU thread unless --threads) and
prints the median
`{"images_per_second": ...}`. Exits 3 when torch is not installed.
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch is not installed", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_pytorch import build  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--network", required=True)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(args.network) as f:
        network = json.load(f)
    model = build(network)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    c, r = network["input"]["channels"], network["input"]["resolution"]
    x = torch.randn(args.images, c, r, r)
    y = torch.randint(0, network["classes"], (args.images,))
    model.train()

    def epoch():
        for i in range(0, args.images, args.batch):
            loss = F.cross_entropy(model(x[i: i + args.batch]), y[i: i + args.batch])
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch()  # warm-up: allocator and kernel selection
    times = []
    for _ in range(3):
        start = time.time()
        epoch()
        times.append(time.time() - start)
    times.sort()
    # Median of three timed epochs.
    print(json.dumps({"images_per_second": args.images / times[1]}))


if __name__ == "__main__":
    main()
