"""A local append-only journal of usage rows, so a killed server loses no answered call's row.

Each serving process owns one journal in ``<data dir>/usage-journal/``: a lock file
``<owner>.lock``, held with ``flock`` for the process's life, and numbered segment files
``<owner>-<n>.jsonl``, one JSON row a line. A row is written to the current segment (one
``write``, so it is in the OS's page cache and survives ``kill -9``) before the answer leaves;
the writer seals the segment, commits its rows to the database and deletes it. Nothing is
fsynced: a process that dies loses nothing, a machine that loses power may lose the rows written
since the last commit (~250 ms), as SQLite's own ``synchronous=NORMAL`` may.

A journal whose lock nobody holds belongs to a dead process: any process may adopt it, insert
its rows (each carries a unique ``call_id``, so a row already committed is not counted twice) and
delete it. A torn last line (a crash mid-write) is skipped.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("aiaas.usage")
LOCK_SUFFIX = ".lock"
SEGMENT_SUFFIX = ".jsonl"

Row = dict[str, Any]


def encode(row: Row) -> bytes:
    return orjson.dumps(row, default=_decimal) + b"\n"


def _decimal(value: object) -> str:
    """A row's cost goes into the journal as its exact decimal text."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read_segment(path: Path) -> list[Row]:
    """The rows of one segment; lines that do not parse (a torn write) are skipped."""
    rows: list[Row] = []
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line:
            continue
        try:
            row = orjson.loads(line)
            row["created_at"] = datetime.fromisoformat(row["created_at"])
            # Rows journaled before costs existed were free: every row gets the same keys.
            row["cost"] = Decimal(row.get("cost") or 0)
            row.setdefault("currency", None)
            row.setdefault("price_id", None)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError):
            log.warning("usage journal %s line %d is torn; skipped", path.name, number)
            continue
        rows.append(row)
    return rows


def _segment(directory: Path, owner: str, number: int) -> Path:
    return directory / f"{owner}-{number:08d}{SEGMENT_SUFFIX}"


def _segments(directory: Path, owner: str) -> list[Path]:
    return sorted(directory.glob(f"{owner}-*{SEGMENT_SUFFIX}"))


class Journal:
    """This process's journal. ``append`` is called under the caller's lock; ``seal`` starts a
    new segment and returns the one to commit and then ``discard``."""

    def __init__(self, directory: Path, owner: str, lock_fd: int) -> None:
        self.directory = directory
        self.owner = owner
        self._lock_fd = lock_fd
        self._number = 0
        self._fd = self._open_segment()
        self._written = 0
        self._torn = False

    @classmethod
    def open(cls, directory: Path) -> Journal:
        """Create and lock a new owner. The lock file is locked under a temporary name and then
        renamed, so no adopter ever sees a live owner's lock file unlocked."""
        directory.mkdir(parents=True, exist_ok=True)
        owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        temporary = directory / f".{owner}{LOCK_SUFFIX}"
        fd = os.open(temporary, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        temporary.rename(directory / f"{owner}{LOCK_SUFFIX}")
        return cls(directory, owner, fd)

    def _open_segment(self) -> int:
        self._number += 1
        path = _segment(self.directory, self.owner, self._number)
        return os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)

    def append(self, data: bytes) -> None:
        """One ``write`` of whole lines: in the OS once this returns. After a failed or short
        write (a full disk) the next one starts on a new line, so only the torn row is lost."""
        if self._torn:
            data = b"\n" + data
        try:
            written = os.write(self._fd, data)
        except OSError:
            self._torn = True
            raise
        self._written += 1
        self._torn = written < len(data)
        if self._torn:
            raise OSError(errno.ENOSPC, "short write to the usage journal")

    def seal(self) -> Path | None:
        """Close the current segment (None if nothing was written to it) and start the next."""
        if not self._written:
            return None
        sealed = _segment(self.directory, self.owner, self._number)
        os.close(self._fd)
        self._fd = self._open_segment()
        self._written = 0
        self._torn = False
        return sealed

    @staticmethod
    def discard(paths: list[Path]) -> None:
        """Delete segments whose rows are committed."""
        for path in paths:
            path.unlink(missing_ok=True)

    def close(self, *, consumed: bool) -> None:
        """Release the journal; with ``consumed`` every row is committed and it is deleted, else
        it stays for the next process to adopt."""
        os.close(self._fd)
        if consumed:
            self.discard(_segments(self.directory, self.owner))
            (self.directory / f"{self.owner}{LOCK_SUFFIX}").unlink(missing_ok=True)
        os.close(self._lock_fd)


@dataclass
class Orphan:
    """A dead owner's journal, locked by this process until ``discard`` or ``release``."""

    directory: Path
    owner: str
    segments: list[Path]
    lock_fd: int | None

    def rows(self) -> list[Row]:
        rows: list[Row] = []
        for path in self.segments:
            try:
                rows += read_segment(path)
            except FileNotFoundError:  # another adopter finished it first
                continue
        return rows

    def discard(self) -> None:
        """Its rows are committed: delete the segments, then the lock file (a crash between
        the two leaves an unlocked lock file, adopted again)."""
        Journal.discard(self.segments)
        if self.lock_fd is not None:
            (self.directory / f"{self.owner}{LOCK_SUFFIX}").unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None


def orphans(directory: Path) -> Iterator[Orphan]:
    """Journals of dead processes, each locked while the caller handles it. Live owners hold
    their lock and are skipped. Segments whose owner has no lock file are orphans too: an owner
    renames its lock file in before its first segment and deletes it after its last, so listing
    segments before lock files never takes a live owner's segment for an unowned one."""
    if not directory.is_dir():
        return
    segments = sorted(directory.glob(f"*{SEGMENT_SUFFIX}"))
    locks = sorted(directory.glob(f"*{LOCK_SUFFIX}"))
    owners = {lock.name.removesuffix(LOCK_SUFFIX).lstrip(".") for lock in locks}
    unowned: dict[str, list[Path]] = {}
    for path in segments:
        owner = path.name.removesuffix(SEGMENT_SUFFIX).rsplit("-", 1)[0]
        if owner not in owners:
            unowned.setdefault(owner, []).append(path)
    for owner, paths in unowned.items():
        yield Orphan(directory, owner, paths, None)
    for lock in locks:
        fd = _lock_if_dead(lock)
        if fd is None:
            continue
        if lock.name.startswith("."):  # died before its first segment
            lock.unlink(missing_ok=True)
            os.close(fd)
            continue
        owner = lock.name.removesuffix(LOCK_SUFFIX)
        orphan = Orphan(directory, owner, _segments(directory, owner), fd)
        try:
            yield orphan
        finally:
            orphan.release()


def _lock_if_dead(lock: Path) -> int | None:
    """A descriptor holding ``lock``'s flock, or None while its owner lives (or it is gone)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(lock).st_ino == os.fstat(fd).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass
    os.close(fd)
    return None
