"""Receive an uploaded archive safely: size-limited on disk and on expansion, no member escapes.

Refused: absolute paths, ``..``, links of any kind, devices, more members or more expanded bytes
than allowed. Tar and zip are told apart by their bytes, never by a client's content type.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact

MAX_MEMBERS = 10_000
_CHUNK = 1024 * 1024


async def receive(chunks: AsyncIterator[bytes], target: Path, *, limit: int) -> int:
    """Stream an upload to ``target``; raise ``PayloadTooLarge`` past ``limit`` bytes."""
    written = 0
    with target.open("wb") as handle:
        async for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise PayloadTooLarge(
                    f"upload exceeds the limit of {limit} bytes", details={"limit": limit}
                )
            handle.write(chunk)
    if written == 0:
        raise Invalid("the upload is empty: send a .tar.gz, .tar or .zip archive as the body")
    return written


def _checked_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or name.startswith(("/", "\\")) or ":" in name:
        raise UnsafeArtifact(f"archive member escapes the target directory: {name!r}")
    return path


def extract(archive: Path, target: Path, *, max_bytes: int) -> None:
    """Extract a tar (optionally gzip/bz2/xz) or zip archive into an empty ``target``."""
    with archive.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(b"PK"):
        _extract_zip(archive, target, max_bytes)
    else:
        try:
            is_tar = tarfile.is_tarfile(archive)
        except OSError:
            is_tar = False
        if not is_tar:
            raise Invalid("the upload is not a tar, tar.gz or zip archive")
        _extract_tar(archive, target, max_bytes)


def _extract_tar(archive: Path, target: Path, max_bytes: int) -> None:
    total = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members")
                relative = _checked_name(member.name)
                if member.issym() or member.islnk():
                    raise UnsafeArtifact(f"archive member is a link: {member.name!r}")
                if member.isdir():
                    (target / relative).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise UnsafeArtifact(f"archive member is not a regular file: {member.name!r}")
                total += member.size
                if total > max_bytes:
                    raise PayloadTooLarge(f"archive expands past {max_bytes} bytes")
                source = tar.extractfile(member)
                if source is None:
                    raise Invalid(f"cannot read archive member {member.name!r}")
                _write(source, target / relative)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Invalid(f"corrupt tar archive: {exc}") from exc


def _extract_zip(archive: Path, target: Path, max_bytes: int) -> None:
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members")
            for info in infos:
                relative = _checked_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArtifact(f"archive member is a link: {info.filename!r}")
                if info.is_dir():
                    (target / relative).mkdir(parents=True, exist_ok=True)
                    continue
                total += info.file_size
                if total > max_bytes:
                    raise PayloadTooLarge(f"archive expands past {max_bytes} bytes")
                with zf.open(info) as source:
                    _write(source, target / relative, limit=info.file_size)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise Invalid(f"corrupt zip archive: {exc}") from exc


def _write(source: object, path: Path, *, limit: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    read = source.read  # type: ignore[attr-defined]
    with path.open("xb") as handle:
        while chunk := read(_CHUNK):
            written += len(chunk)
            if limit is not None and written > limit:
                raise UnsafeArtifact(f"archive member {path.name!r} is larger than its header says")
            handle.write(chunk)
