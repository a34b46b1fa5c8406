#!/usr/bin/env python3
"""Train one layernas trial in PyTorch: the external command evaluator's worked example.

    layernas search --space examples/spaces/tiny-mobilenet.toml --max-cost 5 \
        --evaluator command \
        --command "python3 examples/evaluators/train_pytorch.py --data-dir /usr/share/datasets/fashion-mnist --epochs 2"

layernas writes the trial as one JSON object on standard input (`trial`, `seed`, `arch`,
`key`, `space`, `network`, `context`) and reads the result from the last line of standard
output: `{"reward": <validation accuracy>, "test": <test accuracy>, ...}`. Progress goes to
standard error. A non-zero exit fails the trial, with the tail of standard error kept.

The network is built from `network` (the description `layernas show --json` prints). Images
are resized to the network's input resolution and repeated to its input channels; labels must
be below its number of classes. Data: Fashion-MNIST IDX files (`train-images-idx3-ubyte[.gz]`,
`train-labels-idx1-ubyte[.gz]`, `t10k-*`), e.g. from Debian's `dataset-fashion-mnist`.
Validation is a held-out part of the training images; the test set is only reported.

Needs torch and numpy.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def act(name):
    return {
        "none": nn.Identity(),
        "relu": nn.ReLU(),
        "relu6": nn.ReLU6(),
        "hswish": nn.Hardswish(),
    }[name]


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride=1):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class MBConv(nn.Module):
    def __init__(self, cin, spec):
        super().__init__()
        e, out, k, s = spec["expanded"], spec["out"], spec["kernel"], spec["stride"]
        layers = []
        if e != cin:
            layers += [nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e), act(spec["act"])]
        layers += [nn.Conv2d(e, e, k, s, k // 2, groups=e, bias=False), nn.BatchNorm2d(e), act(spec["act"])]
        self.body = nn.Sequential(*layers)
        self.se = None
        if spec.get("se"):
            sq = spec["se"]
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(e, sq, 1), nn.ReLU(), nn.Conv2d(sq, e, 1), nn.Hardsigmoid())
        self.project = nn.Sequential(nn.Conv2d(e, out, 1, bias=False), nn.BatchNorm2d(out))
        self.residual = s == 1 and cin == out

    def forward(self, x):
        y = self.body(x)
        if self.se is not None:
            y = y * self.se(y)
        y = self.project(y)
        return x + y if self.residual else y


class NatsCell(nn.Module):
    """|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"""

    def __init__(self, cin, out):
        super().__init__()
        self.e10 = ReLUConvBN(cin, out, 3)
        self.e20 = ReLUConvBN(cin, out, 3)
        self.e21 = ReLUConvBN(out, out, 3)
        self.e30 = nn.Identity() if cin == out else ReLUConvBN(cin, out, 1)
        self.e31 = ReLUConvBN(out, out, 3)
        self.e32 = ReLUConvBN(out, out, 3)

    def forward(self, x):
        n1 = self.e10(x)
        n2 = self.e20(x) + self.e21(n1)
        return self.e30(x) + self.e31(n1) + self.e32(n2)


class ResBlock(nn.Module):
    def __init__(self, cin, out, stride):
        super().__init__()
        self.a = ReLUConvBN(cin, out, 3, stride)
        self.b = ReLUConvBN(out, out, 3)
        if stride == 2:
            self.short = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, out, 1, bias=False))
        elif cin != out:
            self.short = ReLUConvBN(cin, out, 1)
        else:
            self.short = nn.Identity()

    def forward(self, x):
        return self.short(x) + self.b(self.a(x))


def build(network):
    """The torch module of a layernas network description."""
    c, h = network["input"]["channels"], network["input"]["resolution"]
    layers = []
    for spec in network["layers"]:
        op = spec["op"]
        if op == "conv":
            k, s, g, out = spec["kernel"], spec["stride"], spec["groups"], spec["out"]
            layers += [nn.Conv2d(c, out, k, s, k // 2, groups=g, bias=spec["bias"])]
            if spec["bn"]:
                layers.append(nn.BatchNorm2d(out))
            layers.append(act(spec["act"]))
            c, h = out, -(-h // s)
        elif op == "mbconv":
            layers.append(MBConv(c, spec))
            c, h = spec["out"], -(-h // spec["stride"])
        elif op == "pool":
            pool = nn.AvgPool2d if spec["kind"] == "avg" else nn.MaxPool2d
            layers.append(pool(spec["kernel"], spec["stride"]))
            h = (h - spec["kernel"]) // spec["stride"] + 1
        elif op == "global_pool":
            layers.append(nn.AdaptiveAvgPool2d(1))
            h = 1
        elif op == "bn_act":
            layers += [nn.BatchNorm2d(c), act(spec["act"])]
        elif op == "linear":
            out = spec["out"] or network["classes"]
            layers += [nn.Flatten(), nn.Linear(c * h * h, out, bias=spec["bias"]), act(spec["act"])]
            c, h = out, 1
        elif op == "nats_cell":
            layers.append(NatsCell(c, spec["out"]))
            c = spec["out"]
        elif op == "res_block":
            layers.append(ResBlock(c, spec["out"], spec["stride"]))
            c, h = spec["out"], -(-h // spec["stride"])
        else:
            raise ValueError(f"unknown op {op}")
    if h != 1:
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, name):
    for suffix in (".gz", ""):
        path = os.path.join(data_dir, name + suffix)
        if os.path.exists(path):
            return read_idx(path)
    raise FileNotFoundError(f"{name}[.gz] not found in {data_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("LAYERNAS_DATA_DIR", "/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    trial = json.load(sys.stdin)
    network = trial["network"]
    if network is None:
        sys.exit(f"space {trial['space']} has no network description; this script builds networks")
    torch.manual_seed(trial["seed"])
    rng = np.random.default_rng(trial["seed"])

    x = load(args.data_dir, "train-images-idx3-ubyte")
    y = load(args.data_dir, "train-labels-idx1-ubyte")
    xt = load(args.data_dir, "t10k-images-idx3-ubyte")
    yt = load(args.data_dir, "t10k-labels-idx1-ubyte")
    if y.max() >= network["classes"]:
        sys.exit(f"labels go up to {y.max()} but the network has {network['classes']} classes")
    order = rng.permutation(len(x))
    n_valid = max(1, args.train_subset // 6)
    train_idx, valid_idx = order[: args.train_subset], order[args.train_subset: args.train_subset + n_valid]

    res, chans = network["input"]["resolution"], network["input"]["channels"]

    def tensor(images):
        t = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        t = (t - 0.286) / 0.353
        if t.shape[-1] != res:
            t = F.interpolate(t, size=(res, res), mode="bilinear", align_corners=False)
        return t.repeat(1, chans, 1, 1)

    model = build(network).to(args.device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = args.epochs * ((len(train_idx) + args.batch_size - 1) // args.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = rng.permutation(train_idx)
        for i in range(0, len(perm), args.batch_size):
            b = perm[i: i + args.batch_size]
            xb, yb = tensor(x[b]).to(args.device), torch.from_numpy(y[b].astype(np.int64)).to(args.device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"trial {trial['trial']} epoch {epoch + 1}: loss {loss.item():.3f}", file=sys.stderr)

    def accuracy(images, labels):
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(images), 256):
                out = model(tensor(images[i: i + 256]).to(args.device))
                correct += (out.argmax(1).cpu().numpy() == labels[i: i + 256]).sum()
        return 100.0 * correct / len(images)

    print(json.dumps({
        "reward": accuracy(x[valid_idx], y[valid_idx]),
        "test": accuracy(xt, yt),
        "train_seconds": time.time() - start,
    }))


if __name__ == "__main__":
    main()
