"""The sealed file format: a short clear header, then Tink's streaming AEAD ciphertext.

    MAGIC (8 bytes) | key id (u32) | tenant length (u16) | tenant | purpose length (u16) | purpose
    | Tink AES-256-GCM-HKDF streaming ciphertext (1 MiB segments, each authenticated)

The header says which tenant's key and which of its keys sealed the file, so rotation and
migration can walk a data dir without a catalogue, and a reader can refuse a file of another
tenant before decrypting. Tenant and purpose are also the ciphertext's associated data, so an
altered header fails authentication like an altered byte of the body. A flipped or missing byte
anywhere is ``StoredDataCorrupt`` on read, never data.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import tink

from aiaas.crypto.keyring import Keyring
from aiaas.errors import StoredDataCorrupt

MAGIC = b"AIAAS\x00S1"
_PREFIX = struct.Struct(">IH")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Header:
    key_id: int
    tenant: str
    purpose: str

    def encode(self) -> bytes:
        tenant, purpose = self.tenant.encode(), self.purpose.encode()
        return (MAGIC + _PREFIX.pack(self.key_id, len(tenant)) + tenant
                + struct.pack(">H", len(purpose)) + purpose)

    @property
    def associated_data(self) -> bytes:
        return b"aiaas sealed\0" + self.tenant.encode() + b"\0" + self.purpose.encode()


def is_sealed(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def read_header(handle: IO[bytes], name: str) -> Header | None:
    """The header of an open file (left just after it); None when the file is not sealed."""
    magic = handle.read(len(MAGIC))
    if magic != MAGIC:
        handle.seek(0)
        return None
    try:
        key_id, tenant_len = _PREFIX.unpack(handle.read(_PREFIX.size))
        tenant = handle.read(tenant_len).decode()
        (purpose_len,) = struct.unpack(">H", handle.read(2))
        purpose = handle.read(purpose_len).decode()
    except (struct.error, UnicodeDecodeError):
        raise StoredDataCorrupt(f"stored file {name} has a damaged header") from None
    return Header(key_id, tenant, purpose)


class _Checked(io.RawIOBase):
    """The decrypting stream with Tink's failures turned into ``StoredDataCorrupt``."""

    def __init__(self, inner: BinaryIO, name: str) -> None:
        self._inner, self._name = inner, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except tink.TinkError:
            raise StoredDataCorrupt(f"stored file {self._name} failed its integrity check: it "
                                    "was modified or truncated; restore it from a backup"
                                    ) from None
        n = len(data or b"")
        buffer[:n] = data or b""
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


class Sealer:
    """Reads and writes one tenant's sealed files with the keys of a ``Keyring``."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @contextlib.contextmanager
    def writer(self, path: Path, tenant: str, purpose: str, *, atomic: bool = False,
               key_id: int | None = None) -> Iterator[BinaryIO]:
        """A binary stream whose bytes land sealed in ``path`` (the tenant's primary key).
        ``atomic``: written beside it and renamed over it on success, so a crash leaves the old
        file whole (rotation); otherwise the caller's staging gives that guarantee. ``key_id``:
        the primary a caller sealing many files read once (``primary_id``)."""
        header = Header(key_id or self.keyring.primary_id(tenant), tenant, purpose)
        primitive = self.keyring.primitive(tenant, header.key_id)
        target = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part") if atomic else path
        raw = target.open("xb")
        try:
            raw.write(header.encode())
            stream = primitive.new_encrypting_stream(raw, header.associated_data)
            with stream:
                yield stream
            if atomic:
                os.replace(target, path)
        except BaseException:
            raw.close()
            if atomic:
                target.unlink(missing_ok=True)
            raise

    def open(self, path: Path, tenant: str, purpose: str, *, allow_plain: bool = True
             ) -> BinaryIO:
        """``path``'s plaintext as a buffered stream. A file of another tenant or purpose, or
        one that fails authentication, is ``StoredDataCorrupt``; a file without the header is
        read as it is when ``allow_plain`` (data stored before encryption, not yet migrated)."""
        raw = path.open("rb")
        try:
            header = read_header(raw, path.name)
            if header is None:
                if allow_plain:
                    return raw
                raise StoredDataCorrupt(f"stored file {path.name} is not sealed but must be")
            if (header.tenant, header.purpose) != (tenant, purpose):
                raise StoredDataCorrupt(f"stored file {path.name} was sealed for another "
                                        "owner or place than the one reading it")
            stream = self.keyring.primitive(tenant, header.key_id).new_decrypting_stream(
                raw, header.associated_data)
        except BaseException:
            raw.close()
            raise
        return io.BufferedReader(_Checked(stream, path.name), _CHUNK)  # type: ignore[return-value]

    def read_bytes(self, path: Path, tenant: str, purpose: str) -> bytes:
        with self.open(path, tenant, purpose) as handle:
            return handle.read()

    def write_bytes(self, path: Path, tenant: str, purpose: str, data: bytes, *,
                    atomic: bool = False) -> None:
        with self.writer(path, tenant, purpose, atomic=atomic) as handle:
            handle.write(data)

    def seal_file(self, source: Path, path: Path, tenant: str, purpose: str, *,
                  atomic: bool = False, key_id: int | None = None) -> None:
        """Write ``source``'s bytes sealed to ``path``."""
        with source.open("rb") as plain, self.writer(path, tenant, purpose, atomic=atomic,
                                                     key_id=key_id) as sealed:
            while chunk := plain.read(_CHUNK):
                sealed.write(chunk)

    def unseal_file(self, path: Path, target: Path, tenant: str, purpose: str) -> None:
        """Write ``path``'s plaintext to ``target`` (a working copy in memory-backed space)."""
        with self.open(path, tenant, purpose) as sealed, target.open("xb") as plain:
            while chunk := sealed.read(_CHUNK):
                plain.write(chunk)

    def reseal(self, path: Path) -> bool:
        """Re-seal one file with its tenant's primary key (atomically); False when it already
        uses it or is not sealed. A crash leaves the old file, still readable."""
        with path.open("rb") as handle:
            header = read_header(handle, path.name)
        if header is None or header.key_id == self.keyring.primary_id(header.tenant):
            return False
        with self.open(path, header.tenant, header.purpose, allow_plain=False) as plain, \
                self.writer(path, header.tenant, header.purpose, atomic=True) as sealed:
            while chunk := plain.read(_CHUNK):
                sealed.write(chunk)
        return True
