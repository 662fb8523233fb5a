"""Pausing Python's cyclic garbage collector while a large document is read.

Loading and building a definition allocates a few dozen containers per task and keeps nearly all
of them. Each allocation counts towards the collector's thresholds, so a 20,000-task document set
off hundreds of collections that scanned the ever larger young part of the tree and found nothing
to free: half the time of a store. Nothing read here forms reference cycles; the collector runs
again, once, when the pause ends.

The collector is global to the process: the pause is counted, so that overlapping pauses (two
threads parsing at once) end when the last one does, and it leaves a collector that was already
disabled (by the application) disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_resume = False


@contextmanager
def paused() -> Iterator[None]:
    """Disable the cyclic collector for the duration of the block."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _resume:
                gc.enable()
