"""Load an uploaded model once, in a bounded child process, before it is registered.

Detection reads headers and JSON; it cannot know that ONNX Runtime lacks a custom operator,
that a ``model.bin`` behind a valid CTranslate2 header is empty, or that a sentence-transformers
pipeline never produces an embedding. Without this check such a model registers (201) and every
predict is a 500. The check opens the directory exactly as the server will (the format table's
framework engine, the task's config from detection) in a child process limited by
``resource.setrlimit`` in the child (address space, CPU seconds) and by a wall-clock timeout
here, so a hostile or huge model cannot take the server down with it; a model that cannot load
is an ``Invalid`` (422) naming the problem, with the server's paths scrubbed from the message.

The child is ``CHILD`` (``aiaas.runtime.backends.load_check``), named as a string like the
format table names backends: the registry sits below the runtime and never imports it.
Built-ins and trained models do not pass through here (they register through ``Registry``
directly); uploads larger than ``max_bytes`` skip the check (``AIAAS_LOAD_CHECK_MAX_MB``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid

if TYPE_CHECKING:
    from aiaas.config import Settings

log = logging.getLogger("aiaas.registry.load_check")
CHILD = "aiaas.runtime.backends.load_check"
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])/(?:[\w.@+~-]+/)*[\w.@+~-]+")
_MAX_MESSAGE = 600
_CHILD_ENV = {
    # One thread everywhere: the check shares the machine with the server answering requests.
    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false", "MALLOC_ARENA_MAX": "2",
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
}


def scrub(message: str, root: Path) -> str:
    """``message`` without server paths: the model's own files by their path inside the model
    directory, any other absolute path as ``<path>``."""
    for base in {str(root.resolve()), str(root)}:
        message = message.replace(base + "/", "").replace(base, "<model directory>")
    message = _ABSOLUTE_PATH.sub("<path>", message)
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE] + "..."


@dataclass
class LoadCheck:
    """Called by the registry with a detected directory, its format, task and config; raises
    ``Invalid`` when the model cannot be loaded (or, for text models, cannot run one input).
    At most ``concurrency`` children run at once: a burst of uploads queues here instead of
    loading a dozen models side by side next to the ones serving."""

    timeout_s: float = 120.0
    memory_mb: int = 8192
    max_bytes: int = 0
    """Directories larger than this skip the check; 0: no cap."""
    child: str = CHILD
    concurrency: int = 2
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.concurrency)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoadCheck | None:
        if not settings.load_check:
            return None
        return cls(timeout_s=settings.load_check_timeout_s, memory_mb=settings.load_check_memory_mb,
                   max_bytes=int(settings.load_check_max_mb * 1024 * 1024))

    def __call__(self, root: Path, format_name: str, task: str, config: dict[str, Any]) -> None:
        size = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        if self.max_bytes and size > self.max_bytes:
            log.info("load check skipped for a %d-byte %s model (over AIAAS_LOAD_CHECK_MAX_MB)",
                     size, format_name)
            return
        request = {"path": str(root), "format": format_name, "task": task, "config": config,
                   "memory_bytes": self.memory_mb * 1024 * 1024,
                   "cpu_s": max(1, round(self.timeout_s))}
        with self._slots:
            started = time.perf_counter()
            outcome = self._run(json.dumps(request))
        log.info("load check of a %s model took %.2f s", format_name,
                 time.perf_counter() - started)
        if outcome.get("ok") is True:
            return
        problem = scrub(str(outcome.get("message") or "unknown error"), root)
        raise Invalid(f"the model cannot be loaded: {problem}",
                      details={"reason": outcome.get("reason", "load_failed")})

    def _run(self, request: str) -> dict[str, Any]:
        env = {**os.environ, **_CHILD_ENV}
        try:
            done = subprocess.run(  # noqa: S603  (our own module, no shell)
                [sys.executable, "-m", self.child], input=request.encode(), env=env,
                capture_output=True, timeout=self.timeout_s, check=False,
            )
        except subprocess.TimeoutExpired:
            return {"message": f"loading took longer than {self.timeout_s:g} s (the server's "
                               "AIAAS_LOAD_CHECK_TIMEOUT_S)", "reason": "timeout"}
        lines = done.stdout.decode(errors="replace").strip().splitlines()
        try:
            outcome: dict[str, Any] = json.loads(lines[-1])
            return outcome
        except (IndexError, ValueError):
            pass
        log.warning("load check child exited with %s: %s", done.returncode,
                    done.stderr.decode(errors="replace")[-2000:])
        if done.returncode < 0:
            return {"message": f"the loading process was stopped by signal {-done.returncode} "
                               f"(over {self.memory_mb} MiB of memory or {self.timeout_s:g} s of "
                               "CPU: AIAAS_LOAD_CHECK_MEMORY_MB, AIAAS_LOAD_CHECK_TIMEOUT_S)",
                    "reason": "limits"}
        return {"message": f"the loading process failed (exit status {done.returncode})",
                "reason": "crashed"}
