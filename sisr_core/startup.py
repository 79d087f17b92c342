"""How a process of ours loads torch: set up at ``import sisr_core``, before any module of ours imports it."""
from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# OpenMP threads waiting for work spin 10,000 times before they sleep, not libgomp's 300,000: while the
# network runs, the reader and the PNG writer need the cycles a spinning thread burns (`sisr upscale -m
# espcn` on a 2000x2000 photo: 0.37 s less CPU, 2.66 -> 2.53 s; fsrcnn 3.43 -> 3.26 s; the network alone
# and training unchanged). libgomp reads it when torch loads; a value the user set is kept.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")


@contextmanager
def loading_torch() -> Iterator[None]:
    """Run the block that first imports torch (and our networks) with Python's cyclic garbage collector
    paused, then freeze what it made, so that later collections skip the objects torch keeps for the life
    of the process: `import torch` alone 1.10 -> 1.01 s, `sisr upscale -m espcn` on a 2000x2000 photo
    2.87-2.93 -> 2.67 s (pausing alone gave 2.60 s, with the freeze 2.42 s in another series). Once torch
    is loaded it does nothing, so a long-lived process's own objects are never frozen."""
    if "torch" in sys.modules:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
