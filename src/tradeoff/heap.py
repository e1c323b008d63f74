"""Give the memory a training loop frees back to the system as it goes.

glibc's allocator keeps freed blocks of the tensors a batch makes (activations and
gradients of a few MB each) inside its heaps. When the next batches do not reuse them
the process grows though its live memory does not: a CNN on 48,000 Fashion-MNIST images
went from 1 GB to 6 GB resident in 4 epochs, and stayed at 0.9 GB when those free blocks
were handed back every few batches. ``HeapTrim`` does that only when the resident set
has grown by ``slack_mb`` since it last did, so a loop that does not grow pays one read
of ``/proc/self/statm`` a batch. Where glibc or ``/proc`` is absent (macOS, musl) it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

#: Growth of the resident set, in MB, that makes ``HeapTrim`` hand free heap memory back.
TRIM_SLACK_MB = 256
_STATM = "/proc/self/statm"


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where this process does not use glibc."""
    name = ctypes.util.find_library("c")
    if name is None or not os.path.exists(_STATM):
        return None
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def resident_mb() -> float | None:
    """This process's resident set now, in MB (None where ``/proc`` is absent)."""
    try:
        with open(_STATM) as statm:
            pages = int(statm.read().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


class HeapTrim:
    """Call once per batch: trims the heap when the resident set grew by ``slack_mb``.

    >>> trim = HeapTrim()
    >>> for batch in batches:  # doctest: +SKIP
    ...     step(batch)
    ...     trim()
    """

    def __init__(self, slack_mb: float = TRIM_SLACK_MB):
        self.slack_mb = slack_mb
        self.trims = 0
        self._trim = _malloc_trim()
        self._floor = resident_mb() if self._trim is not None else None

    def __call__(self) -> None:
        if self._trim is None or self._floor is None:
            return
        now = resident_mb()
        if now is None:
            return
        if now - self._floor < self.slack_mb:
            self._floor = min(self._floor, now)
            return
        self._trim(0)
        self.trims += 1
        # What is still resident after a trim is live: grow from there before trimming again.
        self._floor = resident_mb() or now
