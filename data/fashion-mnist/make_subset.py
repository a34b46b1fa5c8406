#!/usr/bin/env python3
"""Make the stratified Fashion-MNIST subset shipped in this folder.

Takes, in the original order, the first 600 training images of each of the 10 classes (6,000)
and the first 100 test images of each class (1,000), and writes them as gzipped IDX files with
the original names. Deterministic: no randomness.

    python3 make_subset.py /usr/share/datasets/fashion-mnist .
"""
import gzip
import sys


def read(path):
    with gzip.open(path, "rb") as f:
        return f.read()


def subset(src, dst, prefix, per_class):
    images = read(f"{src}/{prefix}-images-idx3-ubyte.gz")
    labels = read(f"{src}/{prefix}-labels-idx1-ubyte.gz")
    n = int.from_bytes(labels[4:8], "big")
    rows, cols = int.from_bytes(images[8:12], "big"), int.from_bytes(images[12:16], "big")
    size = rows * cols
    taken, counts = [], [0] * 10
    for i in range(n):
        c = labels[8 + i]
        if counts[c] < per_class:
            counts[c] += 1
            taken.append(i)
    k = len(taken)
    out_images = bytearray(images[:4]) + k.to_bytes(4, "big") + images[8:16]
    out_labels = bytearray(labels[:4]) + k.to_bytes(4, "big")
    for i in taken:
        out_images += images[16 + i * size: 16 + (i + 1) * size]
        out_labels.append(labels[8 + i])
    for name, data in ((f"{prefix}-images-idx3-ubyte.gz", out_images), (f"{prefix}-labels-idx1-ubyte.gz", out_labels)):
        with gzip.GzipFile(f"{dst}/{name}", "wb", mtime=0) as f:
            f.write(bytes(data))
    print(prefix, k, "images", counts)


if __name__ == "__main__":
    src, dst = sys.argv[1], sys.argv[2]
    subset(src, dst, "train", 600)
    subset(src, dst, "t10k", 100)
