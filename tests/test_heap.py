"""tradeoff.heap: freed heap memory goes back to the system once the process has grown."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import tradeoff.train
from tradeoff.datasets import load
from tradeoff.heap import HeapTrim, _malloc_trim, resident_mb
from tradeoff.prepare import prepare

needs_glibc = pytest.mark.skipif(
    _malloc_trim() is None, reason="malloc_trim and /proc are glibc's and Linux's"
)

# 4,000 blocks of 64 KB (under glibc's mmap threshold, so inside the heap) are written,
# then all but the last are freed: the last pins the heap's top, so glibc keeps the freed
# 256 MB resident, as it keeps the free blocks between a training loop's live tensors.
_FRAGMENTED_HEAP = """
import ctypes, ctypes.util, json
from tradeoff.heap import HeapTrim, resident_mb
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
trim = HeapTrim(slack_mb=100)
start = resident_mb()
blocks = [libc.malloc(64 * 1024) for _ in range(4000)]
for block in blocks:
    ctypes.memset(block, 1, 64 * 1024)
for block in blocks[:-1]:
    libc.free(block)
kept = resident_mb()
trim()
print(json.dumps({"start": start, "kept": kept, "after": resident_mb(), "trims": trim.trims}))
"""


@needs_glibc
def test_a_trim_hands_back_the_free_heap_memory_the_allocator_kept():
    done = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, check=True
    )
    mb = json.loads(done.stdout)
    assert mb["kept"] - mb["start"] > 200  # freed, yet resident
    assert mb["trims"] == 1
    assert mb["kept"] - mb["after"] > 200


@needs_glibc
def test_no_trim_while_the_process_does_not_grow():
    trim = HeapTrim(slack_mb=64)
    for _ in range(1000):
        trim()
    assert trim.trims == 0
    assert resident_mb() > 0


def test_training_offers_a_trim_after_every_batch(monkeypatch):
    calls = []

    class Counting(HeapTrim):
        def __call__(self):
            calls.append(1)
            super().__call__()

    monkeypatch.setattr(tradeoff.train, "HeapTrim", Counting)
    prepared = prepare(load("breast_cancer"), seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(prepared.input_shape)), 2))
    strategy = tradeoff.train.Strategy(batch_size=32, max_epochs=2, patience=5)
    tradeoff.train.train(model, prepared, strategy)
    batches = -(-len(prepared.y_train) // 32)
    assert len(calls) == 2 * batches
