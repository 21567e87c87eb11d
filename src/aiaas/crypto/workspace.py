"""Private, memory-backed space for the plaintext a framework must read as files (a model's
weights for ONNX Runtime or transformers, a training job's checkpoints).

``<root>/<owner>/`` per process, 0700 all the way, on a tmpfs (``/dev/shm`` unless
``AIAAS_WORKSPACE_DIR`` says otherwise), so plaintext never reaches a persistent disk. Each
process holds an ``flock`` on ``<owner>.lock`` while it lives; ``sweep`` removes every owner dir
whose lock nobody holds (a process that died without cleaning up), and ``close`` removes this
process's own at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import stat
import uuid
from pathlib import Path

from aiaas.errors import KeyProblem

DEFAULT_ROOT = Path("/dev/shm")  # noqa: S108  (a per-user 0700 dir whose owner is checked)
_MEMORY_FS = {"tmpfs", "ramfs"}


def _filesystem(path: Path) -> str | None:
    """The file system type of the mount holding ``path`` (Linux ``/proc/mounts``)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) >= 3 and (resolved == fields[1] or resolved.startswith(
                fields[1].rstrip("/") + "/")) and len(fields[1]) > len(best):
            best, kind = fields[1], fields[2]
    return kind


class Workspace:
    def __init__(self, root: Path | None = None) -> None:
        base = root or DEFAULT_ROOT
        if not base.is_dir():
            raise KeyProblem(f"no memory-backed directory at {base} for decrypted working "
                             "copies; set AIAAS_WORKSPACE_DIR to a tmpfs mount")
        if root is None and _filesystem(base) not in _MEMORY_FS:
            raise KeyProblem(f"{base} is not memory-backed; set AIAAS_WORKSPACE_DIR to a tmpfs")
        self.root = base / f"aiaas-{os.getuid()}"
        self.root.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(self.root)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise KeyProblem(f"{self.root} is not a directory of this user; remove it")
        os.chmod(self.root, 0o700)
        owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = (self.root / f"{owner}.lock").open("w")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.dir = self.root / owner
        self.dir.mkdir(mode=0o700)
        self.sweep()
        atexit.register(self.close)

    def new_dir(self, prefix: str) -> Path:
        """A fresh private directory for one working copy."""
        path = self.dir / f"{prefix}-{uuid.uuid4().hex[:12]}"
        path.mkdir(mode=0o700)
        return path

    def shared_dir(self, name: str) -> Path:
        """A private directory other processes of this user can find by name (a training job's
        scratch, which must outlive the worker that started it). Removed by its user."""
        path = self.root / "shared" / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def sweep(self) -> list[str]:
        """Remove the owner dirs of processes that are gone (their lock is free)."""
        removed = []
        for lock in self.root.glob("*.lock"):
            owner = lock.name.removesuffix(".lock")
            if self.dir.name == owner:
                continue
            with lock.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue
                shutil.rmtree(self.root / owner, ignore_errors=True)
                lock.unlink(missing_ok=True)
                removed.append(owner)
        return removed

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.root / f"{self.dir.name}.lock").unlink()
            self._lock.close()
