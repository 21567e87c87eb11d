"""Process-wide settings the model libraries read: set once, before any model loads.

Torch keeps one intra-op thread count per process (each thread that runs a parallel region picks
it up lazily), and Hugging Face libraries read their offline switches from the environment. Both
used to be set by every backend's ``load``, so loading a second model changed the threads under
the models already serving. The server (``Services.start``) and the training worker call
``configure`` once at start; backends and exporters call ``use_torch_threads`` before they touch
torch, which only acts the first time in a process.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger("aiaas.runtime")
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
"""Nothing may download weights at run time: models come from the data dir."""

_lock = threading.Lock()
_wanted = 0
_threads: int | None = None


def configure(torch_threads: int) -> None:
    """The process's settings: offline model libraries, and torch's threads (0: its default),
    applied when torch is first needed (importing it here would slow every start)."""
    global _wanted
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    _wanted = torch_threads


def use_torch_threads(threads: int = 0) -> None:
    """Set torch's intra-op threads once per process: the configured count, else ``threads``
    (a caller outside the server, such as a test, building one backend); later calls keep the
    first count. No count at all leaves torch's default."""
    global _threads
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    count = _wanted or threads
    if count <= 0:
        return
    with _lock:
        if _threads is not None:
            if count != _threads:
                log.debug("torch keeps %d threads (asked for %d)", _threads, count)
            return
        import torch

        torch.set_num_threads(count)
        _threads = count
