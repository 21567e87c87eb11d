"""Run batches of one ONNX model side by side on the CPU, without oversubscribing it.

One session with all of the model's intra-op threads is the fastest way to run a small batch
alone (one sentence: ~4 ms with 2 threads against ~6-7 ms with 1 on this project's 2-core
machine). Under load it is not: every operator ends in a barrier across its threads, and a
thread that loses its core to the HTTP loop or another process stalls the whole batch.
Single-thread sessions that each run their own batch have no such barrier: all-MiniLM-L6-v2,
32 sentences a batch, 2 cores, measured in one process three times in a row: two single-thread
sessions side by side 328-331 sentences/s, one two-thread session 267-290.

So a model holds both: the ``solo`` session, used when nothing else runs and the batch is small
(``SOLO_MAX_ITEMS``), and one single-thread session per lane. A batch that arrives while the
solo session runs waits for it (a small batch: a few ms) rather than fight it for the cores.
The batcher keeps at most ``len(lanes)`` batches in flight, so a free lane always exists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SOLO_MAX_ITEMS = 4
"""Batches up to this size run on the all-threads session when the model is otherwise idle."""


class SessionLanes:
    def __init__(self, solo: Any, lanes: list[Any]) -> None:
        self.solo = solo
        self.lanes = list(lanes)
        self._free = list(lanes)
        self._active = 0
        self._solo_running = False
        self._changed = threading.Condition()

    @property
    def count(self) -> int:
        return len(self.lanes)

    @contextmanager
    def lease(self, items: int) -> Iterator[Any]:
        """A session for a batch of ``items``, held for the ``with`` block."""
        with self._changed:
            while self._solo_running:
                self._changed.wait()
            if self._active == 0 and items <= SOLO_MAX_ITEMS:
                session, self._solo_running = self.solo, True
            else:
                session = self._free.pop()
            self._active += 1
        try:
            yield session
        finally:
            with self._changed:
                self._active -= 1
                if session is self.solo:
                    self._solo_running = False
                else:
                    self._free.append(session)
                self._changed.notify_all()
