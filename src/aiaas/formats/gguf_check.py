"""Validate a GGUF file's header before anything else parses it.

GGUF parsers have been exploited through their header counts and lengths (a tensor count or
string length that overflows an allocation). This reader walks the header with every count and
length checked against hard caps *and* the bytes left in the file before it reads or allocates
anything, checks each tensor's type, shape and data range, and returns the few facts detection
needs. Any failure is ``Invalid`` (a 4xx), never a crash.

Layout (versions 2 and 3): magic ``GGUF``, uint32 version, uint64 tensor count, uint64 metadata
count, the metadata key/values, the tensor infos, padding to ``general.alignment``, tensor data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiaas.errors import Invalid

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_TENSORS = 1 << 16
MAX_KV = 1 << 16
MAX_KEY_BYTES = 1 << 16
MAX_STRING_BYTES = 1 << 24
MAX_ARRAY_ITEMS = 1 << 24
MAX_DIMS = 4
MAX_TENSOR_NAME = 256
MAX_ALIGNMENT = 1 << 16
DEFAULT_ALIGNMENT = 32
MIN_KV_BYTES = 8 + 1 + 4 + 1
MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8

# Value types: fixed-size scalars by their struct code; 8 = string, 9 = array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
_KEPT = ("general.architecture", "general.name", "general.alignment", "tokenizer.ggml.model",
         "tokenizer.chat_template")


@dataclass(frozen=True, slots=True)
class GGUFSummary:
    version: int
    architecture: str
    name: str
    context_length: int | None
    has_chat_template: bool
    has_tokenizer: bool
    tensor_count: int


class _Reader:
    """Reads from a file and refuses to go past its end or a cap before reading."""

    def __init__(self, handle: BinaryIO, size: int, label: str) -> None:
        self.handle = handle
        self.size = size
        self.label = label
        self.offset = 0

    def fail(self, message: str) -> Invalid:
        return Invalid(f"{self.label} is not a valid GGUF file: {message}",
                       details={"file": self.label, "offset": self.offset})

    def left(self) -> int:
        return self.size - self.offset

    def read(self, count: int) -> bytes:
        if count < 0 or count > self.left():
            raise self.fail(f"it is truncated (needs {count} bytes at offset {self.offset})")
        data = self.handle.read(count)
        if len(data) != count:
            raise self.fail("it is truncated")
        self.offset += count
        return data

    def skip(self, count: int) -> None:
        if count < 0 or count > self.left():
            raise self.fail(f"it is truncated (skips {count} bytes at offset {self.offset})")
        self.handle.seek(count, 1)
        self.offset += count

    def scalar(self, code: str) -> int | float | bool:
        value: int | float | bool = struct.unpack("<" + code, self.read(struct.calcsize(code)))[0]
        return value

    def u32(self) -> int:
        return int(self.scalar("I"))

    def u64(self) -> int:
        return int(self.scalar("Q"))

    def string(self, cap: int, what: str) -> bytes:
        length = self.u64()
        if length > cap or length > self.left():
            raise self.fail(f"{what} claims {length} bytes (cap {cap}, {self.left()} left)")
        return self.read(length)

    def count(self, value: int, cap: int, min_bytes: int, what: str) -> int:
        if value > cap or value * min_bytes > self.left():
            raise self.fail(f"{what} count {value} is impossible (cap {cap}, {self.left()} bytes left)")
        return value


def check_gguf(path: Path, label: str | None = None) -> GGUFSummary:
    """Walk the whole header of ``path``; raise ``Invalid`` naming what is wrong."""
    label = label or path.name
    size = path.stat().st_size
    with path.open("rb") as handle:
        reader = _Reader(handle, size, label)
        if reader.left() < 4 or reader.read(4) != MAGIC:
            raise reader.fail("it does not start with the GGUF magic")
        if reader.left() < 20:
            raise reader.fail(f"it is truncated ({size} bytes, shorter than a GGUF header)")
        version = reader.u32()
        if version not in VERSIONS:
            raise reader.fail(f"version {version} is not supported (supported: 2, 3)")
        tensors = reader.count(reader.u64(), MAX_TENSORS, MIN_TENSOR_INFO_BYTES, "tensor")
        kv_count = reader.count(reader.u64(), MAX_KV, MIN_KV_BYTES, "metadata")
        kept, keys = _read_metadata(reader, kv_count)
        alignment = kept.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or not 0 < alignment <= MAX_ALIGNMENT \
                or alignment & (alignment - 1):
            raise reader.fail(f"general.alignment {alignment!r} is not a power of two")
        _check_tensors(reader, tensors, alignment)
    architecture = kept.get("general.architecture")
    if not isinstance(architecture, str) or not architecture:
        raise Invalid(f"{label} has no general.architecture", details={"file": label})
    context = keys.get(f"{architecture}.context_length")
    name = kept.get("general.name")
    return GGUFSummary(
        version=version,
        architecture=architecture,
        name=name if isinstance(name, str) else "",
        context_length=context if isinstance(context, int) and context > 0 else None,
        has_chat_template=isinstance(kept.get("tokenizer.chat_template"), str),
        has_tokenizer="tokenizer.ggml.tokens" in keys and "tokenizer.ggml.model" in kept,
        tensor_count=tensors,
    )


def _read_metadata(reader: _Reader, count: int
                   ) -> tuple[dict[str, str | int], dict[str, int | None]]:
    """Read every key/value; keep the values of ``_KEPT`` and the scalar ints of all keys."""
    kept: dict[str, str | int] = {}
    keys: dict[str, int | None] = {}
    for _ in range(count):
        raw_key = reader.string(MAX_KEY_BYTES, "a metadata key")
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            raise reader.fail("a metadata key is not UTF-8") from None
        if key in keys:
            raise reader.fail(f"metadata key {key[:80]!r} appears twice")
        kind = reader.u32()
        if kind in _SCALARS:
            value = reader.scalar(_SCALARS[kind])
            keys[key] = int(value) if isinstance(value, int) and not isinstance(value, bool) else None
            if key in _KEPT and isinstance(keys[key], int):
                kept[key] = int(value)
        elif kind == _STRING:
            text = reader.string(MAX_STRING_BYTES, f"metadata {key[:80]!r}")
            keys[key] = None
            if key in _KEPT:
                try:
                    kept[key] = text.decode("utf-8")
                except UnicodeDecodeError:
                    raise reader.fail(f"metadata {key[:80]!r} is not UTF-8") from None
        elif kind == _ARRAY:
            _skip_array(reader, key)
            keys[key] = None
        else:
            raise reader.fail(f"metadata {key[:80]!r} has unknown value type {kind}")
    return kept, keys


def _skip_array(reader: _Reader, key: str) -> None:
    kind = reader.u32()
    if kind in _SCALARS:
        width = struct.calcsize(_SCALARS[kind])
        items = reader.count(reader.u64(), MAX_ARRAY_ITEMS, width, f"array {key[:80]!r} item")
        reader.skip(items * width)
    elif kind == _STRING:
        items = reader.count(reader.u64(), MAX_ARRAY_ITEMS, 8, f"array {key[:80]!r} item")
        for _ in range(items):
            length = reader.u64()
            if length > MAX_STRING_BYTES:
                raise reader.fail(f"a string in array {key[:80]!r} claims {length} bytes")
            reader.skip(length)
    else:
        raise reader.fail(f"array {key[:80]!r} has element type {kind} (nested or unknown)")


def _check_tensors(reader: _Reader, count: int, alignment: int) -> None:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    extents: list[tuple[str, int, int]] = []
    names: set[bytes] = set()
    for _ in range(count):
        name = reader.string(MAX_TENSOR_NAME, "a tensor name")
        if name in names:
            raise reader.fail(f"tensor {name[:80]!r} appears twice")
        names.add(name)
        n_dims = reader.u32()
        if not 1 <= n_dims <= MAX_DIMS:
            raise reader.fail(f"tensor {name[:80]!r} has {n_dims} dimensions (1..{MAX_DIMS})")
        dims = [reader.u64() for _ in range(n_dims)]
        kind = reader.u32()
        offset = reader.u64()
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(kind)]
        except (ValueError, KeyError):
            raise reader.fail(f"tensor {name[:80]!r} has unknown type {kind}") from None
        elements = 1
        for dim in dims:
            if not 0 < dim <= reader.size * 64:
                raise reader.fail(f"tensor {name[:80]!r} has dimension {dim}")
            elements *= dim
            if elements > reader.size * 64:
                raise reader.fail(f"tensor {name[:80]!r} is larger than the file could hold")
        if dims[0] % block:
            raise reader.fail(f"tensor {name[:80]!r} row of {dims[0]} is not whole blocks of {block}")
        if offset % alignment:
            raise reader.fail(f"tensor {name[:80]!r} offset {offset} is not aligned")
        extents.append((name.decode("utf-8", "replace"), offset, elements // block * type_size))
    data_start = -(-reader.offset // alignment) * alignment
    room = reader.size - data_start
    for label, offset, nbytes in extents:
        if offset + nbytes > room:
            raise reader.fail(f"tensor {label[:80]!r} lies past the end of the file (truncated?)")
