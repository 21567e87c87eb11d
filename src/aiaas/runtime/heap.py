"""Keep Python's cyclic garbage collector from stalling requests.

A server that has imported torch, transformers and a few models holds millions of tracked
objects; every full collection walks them all (measured: 340-390 ms with all-MiniLM-L6-v2 loaded),
and while it runs no request moves, so the p99 latency at 32 clients was 490 ms against a p50 of
125 ms. ``settle`` collects once and freezes what survives (``gc.freeze``), so later collections
only walk objects made by requests; it runs after start and after every load and unload, when a
pause is expected anyway. ``tune`` raises the young-generation threshold so short-lived request
objects are collected in fewer, larger sweeps. With both: p99 170 ms (bench/serving.py, c=32).
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger("aiaas.runtime")
YOUNG_THRESHOLD = 20_000


def tune() -> None:
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settle() -> None:
    """Collect everything now and exempt the survivors from later full collections."""
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled in %.0f ms (%d objects frozen)", (time.perf_counter() - started) * 1000,
              gc.get_freeze_count())
