"""GGUF header checks: hostile headers are invalid, the real SmolLM2 header is read and a
truncated copy is caught."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from aiaas.errors import Invalid
from aiaas.formats.gguf_check import check_gguf
from tests.runtime.conftest import GGUF, smollm2_dir


def gguf_header(*, magic: bytes = b"GGUF", version: int = 3, tensors: int = 0, kvs: int = 1,
                key: bytes = b"general.architecture", value: bytes = b"llama") -> bytes:
    head = magic + struct.pack("<IQQ", version, tensors, kvs)
    return head + struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value


@pytest.mark.parametrize(("data", "message"), [
    (gguf_header(magic=b"GGML"), "magic"),
    (gguf_header(version=1), "version 1"),
    (gguf_header(tensors=2**63), "tensor count"),
    (gguf_header(kvs=2**40), "metadata count"),
    (gguf_header()[:-3], "claims 5 bytes"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**62) + b"x" * 16, "claims"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<I", 99)
     + b"\0" * 8, "unknown value type"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
     + struct.pack("<IIQ", 9, 8, 2**50) + b"\0" * 8, "impossible"),
], ids=["magic", "version", "tensors", "kvs", "truncated", "string", "type", "array"])
def test_hostile_gguf_headers_are_invalid(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    with pytest.raises(Invalid, match=message):
        check_gguf(path)


def test_real_gguf_header_and_a_truncated_copy(tmp_path: Path) -> None:
    source = smollm2_dir() / GGUF
    summary = check_gguf(source)
    assert (summary.architecture, summary.context_length, summary.tensor_count) == ("llama", 8192, 272)
    assert summary.has_chat_template and summary.has_tokenizer
    truncated = tmp_path / "cut.gguf"
    with source.open("rb") as handle, truncated.open("wb") as out:
        shutil.copyfileobj(handle, out)
    with truncated.open("r+b") as handle:
        handle.truncate(source.stat().st_size - 1000)
    with pytest.raises(Invalid, match="past the end of the file"):
        check_gguf(truncated)
