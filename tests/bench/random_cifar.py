#!/usr/bin/env python3
"""random_cifar.py DIR - CIFAR-10-shaped binary batches of random pixels for the
benches (a throughput measurement needs no real images): data_batch_1..5.bin with
1000 records each and test_batch.bin with 1000, each record a label byte and
3072 pixel bytes. Seeded: the same files every time."""
import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out)
rng = np.random.default_rng(1)
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    rec = rng.integers(0, 256, size=(1000, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=1000)
    rec.tofile(os.path.join(out, name))
