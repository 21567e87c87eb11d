"""Content-addressed artifact store: every artifact is a directory named by its digest.

The digest covers each file's relative path, size and SHA-256, so two identical uploads share one
directory. Artifacts are built in the data dir's tmp folder and moved into place with one
``rename``: a crash or a full disk leaves either the whole artifact or nothing. A stored artifact
is read-only (files 0444, directories 0555); removal first renames it out of the store, so a
half-deleted artifact is never visible either.

Staging and trash dirs carry this process's owner token (``owners``), so ``hygiene`` removes a
dead process's at once and never a live peer's; a stored artifact's mtime is refreshed whenever a
registration stores or reuses it, which keeps it out of the orphan sweep until its row exists. A
full disk inside ``staging()`` is ``InsufficientStorage`` (``disk``), with the stage removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from aiaas.errors import Invalid, NotFound
from aiaas.formats.files import iter_files
from aiaas.registry.disk import storage_guard
from aiaas.registry.owners import staging_dir

_DIGEST = re.compile(r"[a-f0-9]{64}")
_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def directory_digest(root: Path) -> tuple[str, int]:
    """Return (digest, total size in bytes) of a directory tree."""
    digest = hashlib.sha256()
    total = 0
    for path in iter_files(root):
        size = path.stat().st_size
        total += size
        relative = path.relative_to(root).as_posix()
        digest.update(f"{relative}\0{size}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest(), total


class ArtifactStore:
    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        root.mkdir(parents=True, exist_ok=True)
        tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        if not _DIGEST.fullmatch(digest):
            raise Invalid(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def open(self, digest: str) -> Path:
        path = self.path_of(digest)
        if not path.is_dir():
            raise NotFound(f"artifact {digest} is missing from the store")
        return path

    def staging_dir(self) -> Path:
        """A fresh directory inside the data dir to build an artifact in, owned by this process
        (``owners``): a sweep removes it once this process is gone, never before."""
        return staging_dir(self.tmp_dir)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh staging directory (``staging_dir``) for the block, removed when it ends
        however it ends: registered with ``move=True`` it is in the store by then, and a failure
        anywhere leaves nothing behind in the data dir (``stage-*`` is what a crash leaves, for
        the sweep). A full disk anywhere in the block is ``InsufficientStorage``."""
        with storage_guard("storing a model"):
            staged = self.staging_dir()
            try:
                yield staged
            finally:
                remove_tree(staged)

    def put_staged(self, staged: Path, *, known: tuple[str, int] | None = None) -> tuple[str, int]:
        """Move a fully written staging directory into the store; returns (digest, size).

        ``known`` is the ``directory_digest`` of ``staged`` when the caller has computed it.
        """
        digest, size = known or directory_digest(staged)
        target = self.path_of(digest)
        if target.is_dir():
            remove_tree(staged)
            _touch(target)
            return digest, size
        target.parent.mkdir(parents=True, exist_ok=True)
        _make_read_only(staged)
        try:
            staged.rename(target)
        except OSError:
            if not target.is_dir():
                _make_writable(staged)
                raise
            remove_tree(staged)
            _touch(target)
            return digest, size
        target.chmod(0o555)
        _touch(target)
        return digest, size

    def put_copy(self, source: Path) -> tuple[str, int]:
        """Copy a directory into the store.

        A real copy, not a hard link: a link would share the inode, so making the artifact
        read-only would change the caller's file, and a later write to the caller's file would
        change an artifact whose digest says it cannot change.
        """
        with self.staging() as staged:
            for path in iter_files(source):
                target = staged / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
            return self.put_staged(staged)

    def untouched_since(self, digest: str, cutoff: float) -> bool:
        """True when the artifact exists and was last stored or reused before ``cutoff``."""
        try:
            return self.path_of(digest).stat().st_mtime < cutoff
        except FileNotFoundError:
            return False

    def remove(self, digest: str) -> None:
        """Take an artifact out of the store at once (one rename), then delete its files."""
        path = self.path_of(digest)
        if not path.is_dir():
            return
        trash = staging_dir(self.tmp_dir, "trash")
        try:
            path.chmod(0o755)  # moving a directory to a new parent rewrites its '..' entry
            path.rename(trash / digest)
        except FileNotFoundError:
            pass
        finally:
            remove_tree(trash)


def _touch(target: Path) -> None:
    """Mark a stored artifact as just used by a registration (see ``hygiene``)."""
    with contextlib.suppress(OSError):
        now = time.time()
        os.utime(target, (now, now))


def _make_read_only(root: Path) -> None:
    """Files 0444 and directories below ``root`` 0555 (``root`` itself after its rename)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            (Path(dirpath) / name).chmod(0o444)
        for name in dirnames:
            (Path(dirpath) / name).chmod(0o555)


def _make_writable(root: Path) -> None:
    if not root.is_dir() or root.is_symlink():
        return
    root.chmod(0o755)
    for dirpath, dirnames, _filenames in os.walk(root):
        for name in dirnames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(0o755)


def remove_tree(root: Path) -> None:
    """``rmtree`` that also works on a read-only tree when not running as root."""
    with contextlib.suppress(OSError):
        _make_writable(root)
    shutil.rmtree(root, ignore_errors=True)
