"""A full disk told apart from every other failure, on every path that writes.

Without this a full disk surfaces as whatever the writing code happens to catch: an ``OSError``
(ENOSPC) is a 500, and inside archive extraction it reads as a "corrupt tar archive" (422),
both of which send the client to look for a fault in its upload. ``storage_guard`` wraps a
write path and turns a full disk into ``InsufficientStorage`` (507), whose message says what
ran out and that the request may be repeated once space is freed; the staging context managers
that every write path already goes through (``ArtifactStore.staging``, the dataset store's)
apply it, so their cleanup runs and nothing partial is kept.

The database can fill up too (SQLite: "database or disk is full"; PostgreSQL: SQLSTATE 53100,
``disk_full``); registrations insert their row inside those blocks, so it is caught the same way.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from aiaas.errors import InsufficientStorage

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_POSTGRES_DISK_FULL = "53100"


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says a disk or quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if getattr(current, "sqlstate", None) == _POSTGRES_DISK_FULL:
            return True
        if "database or disk is full" in str(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def insufficient(what: str) -> InsufficientStorage:
    return InsufficientStorage(
        f"the server ran out of disk space while {what}; nothing was kept. Try again once an "
        "operator has freed space", details={"reason": "disk_full"},
    )


@contextlib.contextmanager
def storage_guard(what: str) -> Iterator[None]:
    """Raise ``InsufficientStorage`` (naming ``what`` was being done) for a full disk inside
    the block; every other exception passes unchanged."""
    try:
        yield
    except InsufficientStorage:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise insufficient(what) from exc
        raise
