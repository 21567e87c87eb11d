"""What crashes leave in the data dir, found and removed safely while peers keep working.

Two kinds of debris:

- **Staging dirs** (``tmp/stage-*``, and ``tmp/trash-*`` of an artifact being deleted) of a
  process that died. Each process that stages takes an exclusive ``flock`` on its own lock file
  ``owners/owner-<token>.lock`` (a random token per process; ``owners``) and names its dirs
  ``stage-<token>-*``; the kernel drops the lock when the process dies, however it dies. A sweep
  that can take the lock knows the owner is gone and removes its dirs at once; a dir whose
  owner's lock is held belongs to a live process (this one or a peer server or worker on the same
  data dir) and is never touched, whatever its age. Dirs without a token (written by an older
  version) fall back to their age.
- **Unreferenced artifacts**: a directory in the store that no version row names (a kill between
  the rename into the store and the insert of the row). Removed when older than a safety window
  (the store touches an artifact when a registration stores or reuses it, so one about to be
  recorded is always young) and, under the registry's lock, only after the database says again
  that nothing uses it. If most of the store is unknown to the database, the data dir is probably
  paired with the wrong database: nothing is removed and a warning says so.

``Hygiene`` runs both at start and then every ``interval_s`` on a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiaas.registry.owners import OWNER_LOCK, STAMPED, lock_file, owner_token, owners_dir
from aiaas.registry.store import remove_tree

if TYPE_CHECKING:
    from aiaas.config import Settings
    from aiaas.registry.service import Registry

log = logging.getLogger("aiaas.registry.hygiene")

UNSTAMPED_AGE_S = 3600.0
"""A staging dir without an owner token (from a version before owners) is swept past this age."""
_DIGEST = re.compile(r"[a-f0-9]{64}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        path.unlink(missing_ok=True)


def _owner_is_dead(owner_lock: Path) -> int | None:
    """An fd holding ``owner_lock``'s lock when its owner is gone (the caller unlinks and closes
    it), else None."""
    try:
        fd = os.open(owner_lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def sweep_staging(tmp_dir: Path, *, unstamped_age_s: float = UNSTAMPED_AGE_S) -> list[str]:
    """Remove the staging and trash dirs of dead owners (at once) and unstamped ones older than
    ``unstamped_age_s``; returns the names removed. Live owners' dirs are kept whatever their
    age."""
    if not tmp_dir.is_dir():
        return []
    own = owner_token(tmp_dir)
    removed: list[str] = []
    live = {own}
    for owner_lock in sorted(owners_dir(tmp_dir).glob("owner-*.lock")):
        match = OWNER_LOCK.fullmatch(owner_lock.name)
        if match is None or match.group(1) == own:
            continue
        fd = _owner_is_dead(owner_lock)
        if fd is None:
            live.add(match.group(1))
            continue
        try:
            for path in tmp_dir.glob(f"*-{match.group(1)}-*"):
                if STAMPED.fullmatch(path.name):
                    _remove(path)
                    removed.append(path.name)
            owner_lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
    cutoff = time.time() - unstamped_age_s
    drafts = owners_dir(tmp_dir).glob(".owner-*")
    for path in [*tmp_dir.glob("stage-*"), *tmp_dir.glob("trash-*"), *drafts]:
        stamped = STAMPED.fullmatch(path.name)
        if stamped is not None and (stamped.group(1) in live
                                    or lock_file(tmp_dir, stamped.group(1)).exists()):
            continue  # live, or an owner that appeared since the locks were read: next pass
        with contextlib.suppress(FileNotFoundError):
            # An owner publishes its lock before its first dir and only a sweep that holds a
            # dead owner's lock removes the file: stamped without one means its owner is dead.
            if stamped is not None or path.lstat().st_mtime < cutoff:
                _remove(path)
                removed.append(path.name)
    return removed


def _stored(root: Path, cutoff: float) -> tuple[list[str], list[str]]:
    """(every digest in the store, those not touched since ``cutoff``)."""
    every: list[str] = []
    old: list[str] = []
    for path in root.glob("??/*"):
        if not _DIGEST.fullmatch(path.name) or path.parent.name != path.name[:2]:
            continue
        every.append(path.name)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                old.append(path.name)
    return every, old


def _referenced(registry: Registry, digests: list[str]) -> set[str]:
    with registry.db.session() as session:
        return registry.artifacts.in_use(session, digests)


def sweep_artifacts(registry: Registry, *, older_than_s: float) -> list[str]:
    """Remove artifacts no version refers to, untouched for ``older_than_s``; returns their
    digests. Refuses (and warns) when most of the store is unknown to the database."""
    cutoff = time.time() - older_than_s
    every, old = _stored(registry.store.root, cutoff)
    if not old:
        return []
    unused = [digest for digest in old if digest not in _referenced(registry, every)]
    if len(unused) > 1 and 2 * len(unused) > len(every):
        log.warning("not sweeping the artifact store: %d of its %d artifacts are unknown to the "
                    "database, which looks like a data dir paired with the wrong database",
                    len(unused), len(every))
        return []
    return [digest for digest in unused if registry.collect_orphan(digest, cutoff)]


@dataclass
class Hygiene:
    """Sweeps staging dirs and unreferenced artifacts at start and every ``interval_s``
    (0: only at start)."""

    registry: Registry
    interval_s: float = 600.0
    artifact_age_s: float = 900.0
    unstamped_age_s: float = UNSTAMPED_AGE_S
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, registry: Registry, settings: Settings) -> Hygiene:
        return cls(registry, interval_s=settings.hygiene_interval_s,
                   artifact_age_s=settings.orphan_artifact_age_s)

    def sweep(self) -> tuple[list[str], list[str]]:
        """One pass: (staging dirs removed, artifacts removed)."""
        staging = sweep_staging(self.registry.store.tmp_dir, unstamped_age_s=self.unstamped_age_s)
        artifacts = sweep_artifacts(self.registry, older_than_s=self.artifact_age_s)
        if staging or artifacts:
            log.info("swept %d staging dir(s) and %d unreferenced artifact(s)",
                     len(staging), len(artifacts), extra={"staging": staging,
                                                           "artifacts": artifacts})
        return staging, artifacts

    async def start(self) -> None:
        await asyncio.to_thread(self.sweep)
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._every_interval(), name="aiaas-hygiene")

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.to_thread(self.sweep)
            except Exception:
                log.exception("data dir sweep failed; trying again in %.0f s", self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
