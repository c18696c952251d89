#!/usr/bin/python3
"""torch_train.py - the PyTorch CPU reference for tests/bench/run.sh.

    torch_train.py ARCH DATA_DIR SAMPLES EPOCHS BATCH THREADS

Trains the same architecture as deepsigns (same layers, dropout, SGD lr 0.01
momentum 0.9, batch size, thread count) on the same first SAMPLES training
images, after a warm-up of 8 batches, and prints "samples_per_s N".
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(data_dir, name)):
            return os.path.join(data_dir, name)
    raise SystemExit(f"torch_train.py: {stem}[.gz] not found in {data_dir}")


def load(data_dir, samples):
    """Training images as float [N, C, H, W] with deepsigns' default preprocessing."""
    if os.path.exists(os.path.join(data_dir, "data_batch_1.bin")):
        recs = np.concatenate([np.fromfile(os.path.join(data_dir, f"data_batch_{i}.bin"), np.uint8)
                               .reshape(-1, 3073) for i in range(1, 6)])[:samples]
        y = recs[:, 0].astype(np.int64)
        x = recs[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        mean = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
        std = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)
        x = (x - mean) / std
    else:
        x = read_idx(find(data_dir, "train-images-idx3-ubyte"))[:samples]
        y = read_idx(find(data_dir, "train-labels-idx1-ubyte"))[:samples].astype(np.int64)
        x = x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def build(arch, channels):
    if arch == "mnist-mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))
    if arch == "mnist-cnn":
        return nn.Sequential(nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                             nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(128, 10))
    if arch == "cifar10-cnn":
        return nn.Sequential(nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                             nn.Linear(64 * 6 * 6, 512), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(512, 10))
    raise SystemExit(f"torch_train.py: unknown architecture {arch}")


def run_epochs(model, opt, x, y, batch, epochs, gen):
    n = x.shape[0]
    loss = None
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
    return float(loss)


def main():
    if len(sys.argv) != 7:
        raise SystemExit(__doc__)
    arch, data_dir = sys.argv[1], sys.argv[2]
    samples, epochs, batch, threads = (int(v) for v in sys.argv[3:7])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    x, y = load(data_dir, samples)
    model = build(arch, x.shape[1])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    run_epochs(model, opt, x[:batch * 8], y[:batch * 8], batch, 1, gen)
    t0 = time.perf_counter()
    loss = run_epochs(model, opt, x, y, batch, epochs, gen)
    seconds = time.perf_counter() - t0
    print(f"samples_per_s {x.shape[0] * epochs / seconds:.1f}")
    print(f"loss {loss:.4f}")


if __name__ == "__main__":
    main()
