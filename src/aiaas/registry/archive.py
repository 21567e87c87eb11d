"""Receive an uploaded archive safely: size-limited on disk and on expansion, no member escapes.

Refused: absolute paths, ``..``, links of any kind, devices, encrypted zip members, more members
or more expanded bytes than allowed. Tar and zip are told apart by their bytes, never by a
client's content type, and the tar stream is decompressed through a reader that refuses to read
past a budget, so no header (a pax or GNU long-name record is read whole into memory) can expand
into gigabytes. Every failure is an ``Invalid`` (or a subclass) naming the member and the
problem, never the server's own paths.

Expansion is bounded by the upload actually received, not only by the upload limit: at most
``ratio`` times the archive's own size (never below ``floor``, never above ``max_bytes``),
counted as the bytes really written, so a 1 MB bomb stops after ``ratio`` MB, whatever its
headers claim. Model weights barely compress, so a larger ratio is a bomb, not a model. A full
disk while receiving or extracting is ``InsufficientStorage``, never a "corrupt archive".
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
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact
from aiaas.registry.disk import insufficient, is_disk_full, storage_guard

MAX_MEMBERS = 10_000
DEFAULT_RATIO = 20.0
"""Most bytes written per byte of archive (``AIAAS_ARCHIVE_MAX_RATIO``)."""
DEFAULT_FLOOR = 32 * 1024 * 1024
"""Any archive may expand to this many bytes whatever its ratio (``AIAAS_ARCHIVE_RATIO_FLOOR_BYTES``):
tiny uploads of text files legitimately compress well past the ratio."""
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
    with storage_guard("receiving the upload"), target.open("wb") as handle:
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


class _Expansion:
    """The bytes written so far against the limit for this archive (``extract``)."""

    def __init__(self, compressed: int, max_bytes: int, ratio: float, floor: int) -> None:
        self.compressed, self.ratio = compressed, ratio
        by_ratio = max(int(ratio * compressed), floor)
        self.limit = min(max_bytes, by_ratio)
        self.by_ratio = by_ratio < max_bytes
        self.written = 0

    def error(self) -> PayloadTooLarge:
        if not self.by_ratio:
            return PayloadTooLarge(f"archive expands past {self.limit} bytes",
                                   details={"limit": self.limit})
        return PayloadTooLarge(
            f"archive expands past {self.limit} bytes, more than {self.ratio:g} times its "
            f"{self.compressed} compressed bytes: refused as a decompression bomb (the server's "
            "AIAAS_ARCHIVE_MAX_RATIO and AIAAS_ARCHIVE_RATIO_FLOOR_BYTES set this)",
            details={"limit": self.limit, "ratio": self.ratio,
                     "compressed_bytes": self.compressed},
        )

    def claim(self, total: int) -> None:
        """Refuse early when the headers already claim too much (they may lie the other way,
        which ``add`` catches)."""
        if total > self.limit:
            raise self.error()

    def add(self, count: int) -> None:
        self.written += count
        if self.written > self.limit:
            raise self.error()


def extract(archive: Path, target: Path, *, max_bytes: int, ratio: float = DEFAULT_RATIO,
            floor: int = DEFAULT_FLOOR) -> None:
    """Extract a tar (optionally gzip/bz2/xz) or zip archive into an empty ``target``, writing
    at most ``min(max_bytes, max(ratio x the archive's size, floor))`` bytes."""
    with archive.open("rb") as handle:
        magic = handle.read(6)
    expansion = _Expansion(archive.stat().st_size, max_bytes, ratio, floor)
    try:
        if magic.startswith(b"PK"):
            _extract_zip(archive, target, expansion)
        else:
            _extract_tar(archive, magic, target, expansion)
    except Invalid as exc:
        if is_disk_full(exc):
            raise insufficient("extracting the archive") from exc
        raise


class _BoundedReader:
    """A read-only, forward-seeking view of a decompressed stream that refuses to go past
    ``budget`` bytes and refuses any single read over ``MAX_HEADER_BYTES`` (member data is read
    in ``_CHUNK`` pieces; only a hostile header asks for more)."""

    def __init__(self, raw: io.BufferedIOBase, budget: int, expansion: _Expansion) -> None:
        self.raw = raw
        self.budget = budget
        self.expansion = expansion
        self.position = 0

    def _too_large(self) -> PayloadTooLarge:
        return self.expansion.error()

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


def _extract_tar(archive: Path, magic: bytes, target: Path, expansion: _Expansion) -> None:
    raw, kind = _open_tar_stream(archive, magic)
    budget = expansion.limit + MAX_MEMBERS * _PER_MEMBER_OVERHEAD + _TRAILER
    stream = _BoundedReader(raw, budget, expansion)
    opened = False
    try:
        with tarfile.open(fileobj=cast(IO[bytes], stream), mode="r:") as tar:
            opened = True
            _extract_tar_members(tar, target, expansion)
    except _STREAM_ERRORS as exc:
        if is_disk_full(exc):
            raise insufficient("extracting the archive") from exc
        if not opened and not kind:
            raise Invalid("the upload is not a tar, tar.gz or zip archive") from exc
        raise Invalid(f"corrupt {kind}tar archive: {_reason(exc)}") from exc
    finally:
        stream.close()


def _extract_tar_members(tar: tarfile.TarFile, target: Path, expansion: _Expansion) -> None:
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
        expansion.claim(total)
        source = tar.extractfile(member)
        if source is None:
            raise Invalid(f"cannot read archive member {member.name!r}")
        with source:
            _write(source, target, relative, member.name, limit=member.size, expansion=expansion)


def _extract_zip(archive: Path, target: Path, expansion: _Expansion) -> None:
    with _zip_errors(), zipfile.ZipFile(archive) as zf:
        total = 0
        for info in _zip_infos(zf):
            relative = _checked_zip_member(info)
            if info.is_dir():
                _make_dir(target, relative, info.filename)
                continue
            total += info.file_size
            expansion.claim(total)
            with zf.open(info) as source:
                _write(source, target, relative, info.filename, limit=info.file_size,
                       expansion=expansion)


def _zip_infos(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise PayloadTooLarge(f"archive has more than {MAX_MEMBERS} members",
                              details={"limit": MAX_MEMBERS})
    return infos


def _checked_zip_member(info: zipfile.ZipInfo) -> PurePosixPath:
    """A member's safe relative path; links, and for files special files, encrypted members
    and unknown compression methods are refused."""
    relative = _checked_name(info.filename)
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArtifact(f"archive member is a link: {info.filename!r}",
                             details={"member": info.filename})
    if info.is_dir():
        return relative
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        raise UnsafeArtifact(f"archive member is not a regular file: {info.filename!r}",
                             details={"member": info.filename})
    if info.flag_bits & 0x1:
        raise Invalid(f"archive member {info.filename!r} is encrypted; "
                      "upload an unencrypted archive")
    if info.compress_type not in _ZIP_METHODS:
        raise Invalid(f"archive member {info.filename!r} uses an unsupported "
                      f"compression method ({info.compress_type})")
    if not relative.parts:
        raise Invalid(f"archive member {info.filename!r} has no file name")
    return relative


class ZipMembers:
    """A zip archive read in place, member by member, with every check ``extract`` makes
    (names, links, member count, encryption, expansion bounded by the archive's size) but no
    file written: for archives whose members are only read (an image set is checked and
    decoded straight from its ZIP). All headers are checked on opening; ``read`` counts the
    bytes really inflated against the expansion limit."""

    def __init__(self, source: IO[bytes], size: int, *, max_bytes: int,
                 ratio: float = DEFAULT_RATIO, floor: int = DEFAULT_FLOOR) -> None:
        self._expansion = _Expansion(size, max_bytes, ratio, floor)
        with _zip_errors():
            self._zip = zipfile.ZipFile(source)
            self.files: dict[PurePosixPath, zipfile.ZipInfo] = {}
            """Each regular file by its relative path, in archive order."""
            self.dirs: set[PurePosixPath] = set()
            """The directory entries (a folder may also be implied by its files alone)."""
            total = 0
            for info in _zip_infos(self._zip):
                relative = _checked_zip_member(info)
                if info.is_dir():
                    self.dirs.add(relative)
                    continue
                if relative in self.files:
                    raise Invalid(f"archive member {info.filename!r} appears more than once")
                total += info.file_size
                self._expansion.claim(total)
                self.files[relative] = info

    def read(self, path: PurePosixPath) -> bytes:
        """The member's bytes; ``UnsafeArtifact`` when they run past its header's size."""
        info = self.files[path]
        with _zip_errors(), self._zip.open(info) as source:
            data = source.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise UnsafeArtifact(f"archive member {info.filename!r} is larger than its header "
                                 "says", details={"member": info.filename})
        self._expansion.add(len(data))
        return data

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ZipMembers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _zip_errors() -> Iterator[None]:
    """What zipfile or a broken stream raises, as ``Invalid`` (a full disk while extracting
    as ``InsufficientStorage``)."""
    try:
        yield
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, *_STREAM_ERRORS) as exc:
        if is_disk_full(exc):
            raise insufficient("extracting the archive") from exc
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


def _write(source: Any, target: Path, relative: PurePosixPath, name: str, *, limit: int,
           expansion: _Expansion) -> None:
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
            expansion.add(len(chunk))
            handle.write(chunk)
