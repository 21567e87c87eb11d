"""The child process of the registry's load check (``aiaas.registry.load_check``).

Reads one JSON request on stdin (path, format, task, config, limits), limits itself with
``resource.setrlimit`` before importing any model framework, builds the format table's framework
engine for the directory exactly as the server would (``build_backend``, engine ``pytorch``: no
export is cached for an artifact that is not registered yet), loads it, runs one input through
text models (a pipeline can load and still never produce its output), and writes one JSON line,
``{"ok": true}`` or ``{"ok": false, "message": ...}``, on its original stdout (everything the
libraries print goes to stderr). Run as ``python -m aiaas.runtime.backends.load_check``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

from aiaas.errors import AiaasError

_SMOKE = {"embedding": ["load check"], "text-classification": ["load check"]}
"""Tasks cheap enough to run one item: their pipelines can load and still fail on every call."""
_OUT_OF_MEMORY = ("failed to map segment", "Cannot allocate memory", "bad_alloc",
                  "out of memory")
"""How an address-space limit shows when a library (not Python) hits it."""


def _limit(memory_bytes: int, cpu_s: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def check(request: dict[str, Any]) -> dict[str, Any]:
    from aiaas.runtime import process
    from aiaas.runtime.backends import build_backend

    process.configure(1)
    path = Path(request["path"])
    task = str(request["task"])
    try:
        backend = build_backend(str(request["format"]), task, dict(request["config"]), path,
                                digest="", threads=1, engine="pytorch")
        backend.load()
        try:
            if task in _SMOKE:
                predictions = backend.predict_batch(list(_SMOKE[task]), {})
                if len(predictions) != len(_SMOKE[task]):
                    return {"ok": False, "message": "the model returned no output for an input"}
        finally:
            backend.unload()
    except AiaasError as exc:
        return {"ok": False, "message": exc.message}
    except Exception as exc:
        text = str(exc).strip() or "no message"
        if isinstance(exc, MemoryError) or any(sign in text for sign in _OUT_OF_MEMORY):
            return {"ok": False, "message": "loading needs more memory than the server allows "
                                            "(AIAAS_LOAD_CHECK_MEMORY_MB)", "reason": "limits"}
        return {"ok": False, "message": f"{type(exc).__name__}: {text}"}
    return {"ok": True}


def main() -> None:
    result = os.dup(1)
    os.dup2(2, 1)  # library output (C or Python) must not mix with the answer
    sys.stdout = sys.stderr
    request = json.loads(sys.stdin.read())
    _limit(int(request["memory_bytes"]), int(request["cpu_s"]))
    outcome = check(request)
    os.write(result, (json.dumps(outcome) + "\n").encode())
    os.close(result)
    sys.stderr.flush()
    os._exit(0)  # no interpreter teardown: some frameworks crash or hang in it


if __name__ == "__main__":
    main()
