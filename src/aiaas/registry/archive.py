"""Receive an uploaded archive safely: size-limited on disk and on expansion, no member escapes.

Refused: absolute paths, ``..``, links of any kind, devices, encrypted zip members, more members
or more expanded bytes than allowed. Tar and zip are told apart by their bytes, never by a
client's content type, and the tar stream is decompressed through a reader that refuses to read
past a budget, so no header (a pax or GNU long-name record is read whole into memory) can expand
into gigabytes. Every failure is an ``Invalid`` (or a subclass) naming the member and the
problem, never the server's own paths.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact

MAX_MEMBERS = 10_000
# The most one tar header (including a pax or GNU long-name record) may take; real ones are tiny.
MAX_HEADER_BYTES = 1024 * 1024
# Tar bytes allowed per member on top of its data (header, pax record, padding), and at the end.
_PER_MEMBER_OVERHEAD = 4 * 1024
_TRAILER = 64 * 1024
_CHUNK = 1024 * 1024
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
# What a broken compressed stream raises besides OSError/EOFError.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


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
        raise UnsafeArtifact(f"archive member escapes the target directory: {name!r}",
                             details={"member": name})
    return path


def extract(archive: Path, target: Path, *, max_bytes: int) -> None:
    """Extract a tar (optionally gzip/bz2/xz) or zip archive into an empty ``target``."""
    with archive.open("rb") as handle:
        magic = handle.read(6)
    if magic.startswith(b"PK"):
        _extract_zip(archive, target, max_bytes)
    else:
        _extract_tar(archive, magic, target, max_bytes)


class _BoundedReader:
    """A read-only, forward-seeking view of a decompressed stream that refuses to go past
    ``budget`` bytes and refuses any single read over ``MAX_HEADER_BYTES`` (member data is read
    in ``_CHUNK`` pieces; only a hostile header asks for more)."""

    def __init__(self, raw: io.BufferedIOBase, budget: int, max_bytes: int) -> None:
        self.raw = raw
        self.budget = budget
        self.max_bytes = max_bytes
        self.position = 0

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"archive expands past {self.max_bytes} bytes",
                               details={"limit": self.max_bytes})

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > max(MAX_HEADER_BYTES, _CHUNK):
            raise PayloadTooLarge(
                f"archive has a header or record of {size} bytes; at most {MAX_HEADER_BYTES} "
                "are allowed", details={"limit": MAX_HEADER_BYTES},
            )
        # Ask for one byte past the budget at most: getting it proves the stream is too long.
        data = self.raw.read(min(size, self.budget - self.position + 1))
        self.position += len(data)
        if self.position > self.budget:
            raise self._too_large()
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        target = {0: offset, 1: self.position + offset}.get(whence)
        if target is None or target < 0:
            raise OSError("unsupported seek in an archive stream")
        if target > self.budget:
            raise self._too_large()
        self.position = self.raw.seek(target)
        return self.position

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.raw.close()


def _open_tar_stream(archive: Path, magic: bytes) -> tuple[io.BufferedIOBase, str]:
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(archive, "rb"), "gzip-compressed "
    if magic.startswith(b"BZh"):
        return bz2.open(archive, "rb"), "bzip2-compressed "
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(archive, "rb"), "xz-compressed "
    return archive.open("rb"), ""


def _extract_tar(archive: Path, magic: bytes, target: Path, max_bytes: int) -> None:
    raw, kind = _open_tar_stream(archive, magic)
    budget = max_bytes + MAX_MEMBERS * _PER_MEMBER_OVERHEAD + _TRAILER
    stream = _BoundedReader(raw, budget, max_bytes)
    opened = False
    try:
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r:") as tar:
            opened = True
            _extract_tar_members(tar, target, max_bytes)
    except _STREAM_ERRORS as exc:
        if not opened and not kind:
            raise Invalid("the upload is not a tar, tar.gz or zip archive") from exc
        raise Invalid(f"corrupt {kind}tar archive: {_reason(exc)}") from exc
    finally:
        stream.close()


def _extract_tar_members(tar: tarfile.TarFile, target: Path, max_bytes: int) -> None:
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members",
                                  details={"limit": MAX_MEMBERS})
        relative = _checked_name(member.name)
        if member.issym() or member.islnk():
            raise UnsafeArtifact(
                f"archive member is a link: {member.name!r} -> {member.linkname!r}",
                details={"member": member.name},
            )
        if member.isdir():
            _make_dir(target, relative, member.name)
            continue
        if not member.isfile():
            raise UnsafeArtifact(f"archive member is not a regular file: {member.name!r}",
                                 details={"member": member.name})
        total += member.size
        if total > max_bytes:
            raise PayloadTooLarge(f"archive expands past {max_bytes} bytes",
                                  details={"limit": max_bytes})
        source = tar.extractfile(member)
        if source is None:
            raise Invalid(f"cannot read archive member {member.name!r}")
        with source:
            _write(source, target, relative, member.name, limit=member.size)


def _extract_zip(archive: Path, target: Path, max_bytes: int) -> None:
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members",
                                      details={"limit": MAX_MEMBERS})
            for info in infos:
                relative = _checked_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArtifact(f"archive member is a link: {info.filename!r}",
                                         details={"member": info.filename})
                if info.is_dir():
                    _make_dir(target, relative, info.filename)
                    continue
                if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                    raise UnsafeArtifact(
                        f"archive member is not a regular file: {info.filename!r}",
                        details={"member": info.filename},
                    )
                if info.flag_bits & 0x1:
                    raise Invalid(f"archive member {info.filename!r} is encrypted; "
                                  "upload an unencrypted archive")
                if info.compress_type not in _ZIP_METHODS:
                    raise Invalid(f"archive member {info.filename!r} uses an unsupported "
                                  f"compression method ({info.compress_type})")
                total += info.file_size
                if total > max_bytes:
                    raise PayloadTooLarge(f"archive expands past {max_bytes} bytes",
                                          details={"limit": max_bytes})
                with zf.open(info) as source:
                    _write(source, target, relative, info.filename, limit=info.file_size)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, *_STREAM_ERRORS) as exc:
        raise Invalid(f"corrupt zip archive: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """An exception's text without a filesystem path in it (those are the server's business)."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def _make_dir(target: Path, relative: PurePosixPath, name: str) -> None:
    try:
        (target / relative).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise Invalid(f"archive member {name!r} clashes with a file of the same path") from exc


def _write(source: Any, target: Path, relative: PurePosixPath, name: str, *, limit: int) -> None:
    if not relative.parts:
        raise Invalid(f"archive member {name!r} has no file name")
    path = target / relative
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise Invalid(f"archive member {name!r} lies under a path that is a file") from exc
    try:
        handle = path.open("xb")
    except FileExistsError as exc:
        raise Invalid(f"archive member {name!r} appears more than once") from exc
    except IsADirectoryError as exc:
        raise Invalid(f"archive member {name!r} clashes with a directory of the same path") from exc
    written = 0
    with handle:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise UnsafeArtifact(f"archive member {name!r} is larger than its header says",
                                     details={"member": name})
            handle.write(chunk)
