"""Content-addressed artifact store: every artifact is a directory named by its digest.

The digest covers each file's relative path, size and SHA-256, so two identical uploads share one
directory. Artifacts are built in the data dir's tmp folder and moved into place with one
``rename``: a crash or a full disk leaves either the whole artifact or nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from aiaas.errors import Invalid, NotFound, UnsafeArtifact

_DIGEST = re.compile(r"^[a-f0-9]{64}$")
_CHUNK = 1024 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def iter_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, sorted; a link or special file is refused."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                raise UnsafeArtifact(f"artifact contains a symbolic link: {path.relative_to(root)}")
            if name in filenames and not path.is_file():
                raise UnsafeArtifact(f"artifact contains a special file: {path.relative_to(root)}")
            if name in filenames:
                files.append(path)
    return sorted(files)


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
        if not _DIGEST.match(digest):
            raise Invalid(f"not a sha256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def open(self, digest: str) -> Path:
        path = self.path_of(digest)
        if not path.is_dir():
            raise NotFound(f"artifact {digest} is missing from the store")
        return path

    def staging_dir(self) -> Path:
        """A fresh directory inside the data dir to build an artifact in."""
        return Path(tempfile.mkdtemp(prefix="stage-", dir=self.tmp_dir))

    def put_staged(self, staged: Path) -> tuple[str, int]:
        """Move a fully written staging directory into the store; returns (digest, size)."""
        digest, size = directory_digest(staged)
        target = self.path_of(digest)
        if target.is_dir():
            shutil.rmtree(staged, ignore_errors=True)
            return digest, size
        target.parent.mkdir(parents=True, exist_ok=True)
        for path in iter_files(staged):
            path.chmod(0o444)
        try:
            staged.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staged, ignore_errors=True)
        return digest, size

    def put_copy(self, source: Path) -> tuple[str, int]:
        """Copy (hard-linking where the filesystem allows) a directory into the store."""
        staged = self.staging_dir()
        try:
            for path in iter_files(source):
                target = staged / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copyfile(path, target)
            return self.put_staged(staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise

    def remove(self, digest: str) -> None:
        shutil.rmtree(self.path_of(digest), ignore_errors=True)
