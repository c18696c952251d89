#!/usr/bin/python3
"""torch_train.py - the PyTorch CPU reference for tests/bench/run.sh.

    torch_train.py MODE ARCH DATA_DIR BATCH SECONDS THREADS [DEPTH WIDEN]

The same measurement as bench_train on the same data: MODE train runs SGD
(lr 0.01, momentum 0.9) steps of BATCH samples drawn from a shuffle of the
training images, MODE infer the forward in eval mode without gradients
(torch.inference_mode) over batches of 256 with an argmax, as deepsigns'
ds_model_run does. Same layers as deepsigns (dropout, batch norm, residual
shortcuts), same warm-up and step-count rule: one warm-up step (and three more
to calibrate when that one is short against SECONDS), then as many steps as fit
in SECONDS, at least 2. Prints "samples_per_s N".

Threads: torch.set_num_threads and torch.set_num_interop_threads to THREADS;
run.sh sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS alike.
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn

INFER_BATCH = 256


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


def load(data_dir):
    """Training images as float [N, C, H, W] with deepsigns' default preprocessing."""
    if os.path.exists(os.path.join(data_dir, "data_batch_1.bin")):
        recs = np.concatenate([np.fromfile(os.path.join(data_dir, f"data_batch_{i}.bin"), np.uint8)
                               .reshape(-1, 3073) for i in range(1, 6)])
        y = recs[:, 0].astype(np.int64)
        x = recs[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
        mean = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
        std = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)
        x = (x - mean) / std
    else:
        x = read_idx(find(data_dir, "train-images-idx3-ubyte"))
        y = read_idx(find(data_dir, "train-labels-idx1-ubyte")).astype(np.int64)
        x = x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


class WideBlock(nn.Module):
    """Pre-activation wide basic block as deepsigns lays it out (src/nn/arch.c):
    BN-ReLU-conv3(stride)-BN-ReLU-conv3, plus the input, or a 1x1 conv of the
    pre-activated input when the width or the stride changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.short = (nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
                      if cin != cout or stride != 1 else None)

    def forward(self, x):
        o = torch.relu(self.bn1(x))
        s = x if self.short is None else self.short(o)
        return self.conv2(torch.relu(self.bn2(self.conv1(o)))) + s


def wrn(depth, widen, classes=10):
    n = (depth - 4) // 6
    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)]
    c = 16
    for grp in range(3):
        for i in range(n):
            out = (16 << grp) * widen
            layers.append(WideBlock(c, out, 2 if grp > 0 and i == 0 else 1))
            c = out
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(c, classes)]
    return nn.Sequential(*layers)


def build(arch, channels, depth, widen):
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
    if arch == "cifar10-wrn":
        return wrn(depth, widen)
    raise SystemExit(f"torch_train.py: unknown architecture {arch}")


class Trainer:
    """SGD steps over a reshuffle of the data each pass, as ds_train does."""

    def __init__(self, model, x, y, batch):
        self.model, self.x, self.y, self.batch = model, x, y, batch
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        self.gen = torch.Generator().manual_seed(1)
        self.per_pass = max(x.shape[0] // batch, 1)
        self.order, self.pos = None, self.per_pass

    def steps(self, k):
        self.model.train()
        t0 = time.perf_counter()
        for _ in range(k):
            if self.pos == self.per_pass:
                self.order, self.pos = torch.randperm(self.x.shape[0], generator=self.gen), 0
            idx = self.order[self.pos * self.batch:(self.pos + 1) * self.batch]
            self.pos += 1
            self.opt.zero_grad()
            loss = nn.functional.cross_entropy(self.model(self.x[idx]), self.y[idx])
            loss.backward()
            self.opt.step()
        return time.perf_counter() - t0


def infer(model, x, n):
    """Predicted classes of the first n samples (whole passes over x), batches of 256."""
    model.eval()
    t0 = time.perf_counter()
    done = 0
    with torch.inference_mode():
        while done < n:
            m = min(n - done, x.shape[0])
            for i in range(0, m, INFER_BATCH):
                model(x[i:min(i + INFER_BATCH, m)]).argmax(1)
            done += m
    return time.perf_counter() - t0


def main():
    if len(sys.argv) not in (7, 9):
        raise SystemExit(__doc__)
    mode, arch, data_dir = sys.argv[1:4]
    batch, budget, threads = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    depth, widen = (int(sys.argv[7]), int(sys.argv[8])) if len(sys.argv) == 9 else (16, 4)
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    torch.manual_seed(1)
    x, y = load(data_dir)
    model = build(arch, x.shape[1], depth, widen)
    print(f"params {sum(p.numel() for p in model.parameters())}")
    if mode == "train":
        tr = Trainer(model, x, y, batch)
        per = tr.steps(1)
        if per * 3 < budget:
            per = tr.steps(3) / 3
        k = max(int(budget / per), 2)
        seconds = tr.steps(k)
        print(f"steps {k}\nseconds {seconds:.3f}\nsamples_per_s {k * batch / seconds:.2f}")
    elif mode == "infer":
        n0 = min(x.shape[0], INFER_BATCH)
        infer(model, x, n0)
        per = infer(model, x, n0) / n0
        want = max(int(budget / per), n0)
        want = (want + INFER_BATCH - 1) // INFER_BATCH * INFER_BATCH
        seconds = infer(model, x, want)
        print(f"samples {want}\nseconds {seconds:.3f}\nsamples_per_s {want / seconds:.2f}")
    else:
        raise SystemExit(f"torch_train.py: unknown mode {mode} (train or infer)")


if __name__ == "__main__":
    main()
