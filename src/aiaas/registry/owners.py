"""Who owns a staging dir: a random token per process, held as an ``flock`` on a lock file.

Every process that stages in a tmp dir (server, training worker, CLI) first creates
``owners/owner-<token>.lock`` beside it (``<data dir>/owners``: the tmp dir holds nothing but
work in progress) and keeps an exclusive ``flock`` on it until it exits; its staging dirs are
named ``stage-<token>-*`` (``trash-<token>-*`` for artifacts being deleted). The kernel
releases the lock when the process dies, ``kill -9`` included, so ``hygiene`` can tell a dead
owner's dirs (remove now) from a live peer's (never touch) without clocks or pids, which mean
nothing across containers sharing one data dir.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import tempfile
import threading
from pathlib import Path

OWNER_LOCK = re.compile(r"owner-([0-9a-f]{16})\.lock")
STAMPED = re.compile(r"(?:stage|trash)-([0-9a-f]{16})-.*")


def owners_dir(tmp_dir: Path) -> Path:
    """Where the owners of ``tmp_dir``'s staging dirs keep their lock files."""
    return tmp_dir.parent / "owners"


def lock_file(tmp_dir: Path, token: str) -> Path:
    return owners_dir(tmp_dir) / f"owner-{token}.lock"


class _ProcessOwner:
    """This process's token and the locked owner file per tmp dir (held until exit)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.token = secrets.token_hex(8)
        self.locks: dict[Path, int] = {}
        self.mutex = threading.Lock()

    def token_for(self, tmp_dir: Path) -> str:
        """The token, with the lock file in ``tmp_dir`` taken (again, if someone removed the
        file or the whole tmp dir: without it our dirs would look ownerless)."""
        with self.mutex:
            fd = self.locks.get(tmp_dir)
            if fd is None or not lock_file(tmp_dir, self.token).is_file():
                if fd is not None:
                    os.close(fd)
                self.locks[tmp_dir] = _take_owner_lock(tmp_dir, self.token)
        return self.token


def _take_owner_lock(tmp_dir: Path, token: str) -> int:
    """Create, lock and only then publish ``owner-<token>.lock`` (by rename), so a sweep never
    sees the file unlocked and takes a live owner for a dead one."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    owners_dir(tmp_dir).mkdir(exist_ok=True)
    draft = owners_dir(tmp_dir) / f".owner-{token}.draft"
    fd = os.open(draft, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        draft.rename(lock_file(tmp_dir, token))
    except BaseException:
        os.close(fd)
        draft.unlink(missing_ok=True)
        raise
    return fd


_owner: _ProcessOwner | None = None
_owner_mutex = threading.Lock()


def owner_token(tmp_dir: Path) -> str:
    """This process's owner token, its lock on ``tmp_dir`` taken on first use (a forked child
    gets a token of its own: locks are not its to claim)."""
    global _owner
    with _owner_mutex:
        if _owner is None or _owner.pid != os.getpid():
            _owner = _ProcessOwner()
        owner = _owner
    return owner.token_for(tmp_dir.resolve())


def staging_dir(tmp_dir: Path, kind: str = "stage") -> Path:
    """A fresh ``<kind>-<token>-*`` dir in ``tmp_dir``, owned by this process for the sweep."""
    token = owner_token(tmp_dir)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-{token}-", dir=tmp_dir))
