"""Archive extraction: nothing escapes the target, nothing but regular files and directories,
no expansion past the limit (including through tar headers), and a clear ``Invalid`` for anything
broken, never a stray exception or a server path in the message."""

from __future__ import annotations

import bz2
import gzip
import io
import os
import stat
import tarfile
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact
from aiaas.registry import archive
from tests.registry.conftest import Member, iris_files, make_tar, make_zip

MiB = 1024 * 1024


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "tmp" / "stage" / "tree"
    path.mkdir(parents=True)
    return path


def extract(tmp_path: Path, target: Path, payload: bytes, *, max_bytes: int = MiB) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    try:
        archive.extract(upload, target, max_bytes=max_bytes)
    finally:
        upload.unlink()


def files_outside(root: Path, target: Path) -> list[Path]:
    """Every non-directory under ``root`` that is not inside ``target``."""
    return [p for p in root.rglob("*")
            if not p.is_dir() and not p.is_relative_to(target)]


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_tar_in_every_compression_extracts(tmp_path: Path, target: Path, compression: str) -> None:
    payload = make_tar([("m/model.onnx", b"onnx"), ("m/sub/aiaas.json", b"{}")],
                       compression=compression)
    extract(tmp_path, target, payload)
    assert (target / "m" / "model.onnx").read_bytes() == b"onnx"
    assert (target / "m" / "sub" / "aiaas.json").read_bytes() == b"{}"


def test_zip_extracts(tmp_path: Path, target: Path) -> None:
    extract(tmp_path, target, make_zip([("model.onnx", b"onnx"), ("dir/", b""),
                                        ("dir/a.json", b"{}")]))
    assert (target / "model.onnx").read_bytes() == b"onnx"
    assert (target / "dir" / "a.json").read_bytes() == b"{}"


def test_dot_slash_prefixed_tar_extracts(tmp_path: Path, target: Path) -> None:
    """``tar -C dir -czf x.tgz .`` names members ``./`` and ``./model.onnx``: that is fine."""
    extract(tmp_path, target, make_tar([Member("./", kind=tarfile.DIRTYPE),
                                        ("./model.onnx", b"onnx")]))
    assert (target / "model.onnx").read_bytes() == b"onnx"


ABSOLUTE = f"/tmp/aiaas-slip-{uuid.uuid4().hex}"

TAR_SLIPS = {
    "dotdot": Member("../escaped", b"x"),
    "deep-dotdot": Member("model/../../../escaped", b"x"),
    "absolute": Member(ABSOLUTE, b"x"),
    "backslash-dotdot": Member("..\\..\\escaped", b"x"),
    "symlink-out": Member("model/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
    "symlink-relative": Member("link", kind=tarfile.SYMTYPE, linkname="../../escaped"),
    "symlink-dir": Member("linkdir", kind=tarfile.SYMTYPE, linkname="/tmp"),
    "hardlink-out": Member("model/hard", kind=tarfile.LNKTYPE, linkname="/etc/passwd"),
    "hardlink-relative": Member("hard", kind=tarfile.LNKTYPE, linkname="../escaped"),
    "char-device": Member("model/null", kind=tarfile.CHRTYPE),
    "block-device": Member("model/disk", kind=tarfile.BLKTYPE),
    "fifo": Member("model/pipe", kind=tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("member", TAR_SLIPS.values(), ids=TAR_SLIPS.keys())
def test_tar_member_that_escapes_or_is_special_is_refused(
    tmp_path: Path, target: Path, member: Member
) -> None:
    payload = make_tar([("model/model.onnx", b"onnx"), member])
    with pytest.raises(UnsafeArtifact) as caught:
        extract(tmp_path, target, payload)
    assert repr(member.name) in caught.value.message
    assert files_outside(tmp_path, target) == []
    assert not Path(ABSOLUTE).exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))
    assert not any(p.exists() and not (p.is_file() or p.is_dir()) for p in target.rglob("*"))


def test_symlink_then_write_through_it_is_refused(tmp_path: Path, target: Path) -> None:
    """The classic two-step: a link to a directory outside, then a file "inside" the link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    payload = make_tar([Member("evil", kind=tarfile.SYMTYPE, linkname=str(outside)),
                        ("evil/planted", b"x")])
    with pytest.raises(UnsafeArtifact):
        extract(tmp_path, target, payload)
    assert list(outside.iterdir()) == []


ZIP_SLIPS = {
    "dotdot": ("../escaped", 0),
    "deep-dotdot": ("model/../../../escaped", 0),
    "absolute": (ABSOLUTE, 0),
    "drive": ("C:/Windows/escaped", 0),
    "backslash-dotdot": ("model\\..\\..\\escaped", 0),
    "symlink": ("model/link", stat.S_IFLNK | 0o777),
    "char-device": ("model/null", stat.S_IFCHR | 0o644),
    "fifo": ("model/pipe", stat.S_IFIFO | 0o644),
}


@pytest.mark.parametrize(("name", "mode"), ZIP_SLIPS.values(), ids=ZIP_SLIPS.keys())
def test_zip_member_that_escapes_or_is_special_is_refused(
    tmp_path: Path, target: Path, name: str, mode: int
) -> None:
    payload = make_zip([("model.onnx", b"onnx"), (name, b"/etc/passwd")],
                       modes={name: mode} if mode else None)
    with pytest.raises(UnsafeArtifact) as caught:
        extract(tmp_path, target, payload)
    assert repr(name) in caught.value.message
    assert files_outside(tmp_path, target) == []
    assert not Path(ABSOLUTE).exists()
    assert not any(p.is_symlink() for p in target.rglob("*"))


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_expansion_past_the_limit_is_too_large(tmp_path: Path, target: Path, kind: str) -> None:
    zeros = b"\0" * (4 * MiB)
    payload = make_tar([("model.onnx", zeros)]) if kind == "tar.gz" else make_zip(
        [("model.onnx", zeros)])
    assert len(payload) < 64 * 1024  # a real bomb: tiny upload, big expansion
    with pytest.raises(PayloadTooLarge) as caught:
        extract(tmp_path, target, payload, max_bytes=MiB)
    assert "expands past" in caught.value.message
    assert sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) <= MiB


def test_expansion_counts_every_member(tmp_path: Path, target: Path) -> None:
    payload = make_tar([(f"part-{i}", b"\0" * (300 * 1024)) for i in range(4)])
    with pytest.raises(PayloadTooLarge):
        extract(tmp_path, target, payload, max_bytes=MiB)


def test_expansion_just_under_the_limit_is_fine(tmp_path: Path, target: Path) -> None:
    extract(tmp_path, target, make_tar([("model.onnx", b"\0" * MiB)]), max_bytes=MiB)
    assert (target / "model.onnx").stat().st_size == MiB


@pytest.mark.parametrize("header", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME])
@pytest.mark.parametrize("compression", ["gz", ""])
def test_huge_tar_header_is_refused_without_reading_it(
    tmp_path: Path, target: Path, header: bytes, compression: str
) -> None:
    """A pax or GNU long-name record is read whole into memory by tarfile: a header claiming
    petabytes (or a gzip of 50 MB of 'a's) must be refused before any of it is read."""
    if header == tarfile.XHDTYPE:
        info = tarfile.TarInfo("pax")
        info.type = header
        info.size = 10**15
        body = info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024
    else:
        info = tarfile.TarInfo("././@LongLink")
        info.type = header
        info.size = 50 * MiB
        body = info.tobuf(format=tarfile.GNU_FORMAT) + b"a" * info.size + b"\0" * 1024
    payload = gzip.compress(body, compresslevel=1) if compression else body
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge):
        extract(tmp_path, target, payload, max_bytes=MiB)
    assert time.monotonic() - started < 5


def test_too_many_tar_members(tmp_path: Path, target: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    extract(tmp_path, target, make_tar([(f"f{i}", b"x") for i in range(5)]))
    other = target.parent / "other"
    other.mkdir()
    with pytest.raises(PayloadTooLarge) as caught:
        extract(tmp_path, other, make_tar([(f"f{i}", b"x") for i in range(6)]))
    assert "more than 5 members" in caught.value.message


def test_too_many_empty_directories(tmp_path: Path, target: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    with pytest.raises(PayloadTooLarge):
        extract(tmp_path, target, make_tar([Member(f"d{i}/", kind=tarfile.DIRTYPE)
                                            for i in range(6)]))


def test_too_many_zip_members(tmp_path: Path, target: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 5)
    with pytest.raises(PayloadTooLarge):
        extract(tmp_path, target, make_zip([(f"f{i}", b"x") for i in range(6)]))
    assert list(target.iterdir()) == []


def _zip_with_patched_headers(payload: bytes, offset: int, value: bytes) -> bytes:
    """Patch the same field in the local header and the central directory entry."""
    data = bytearray(payload)
    central = data.find(b"PK\x01\x02")
    data[offset:offset + len(value)] = value
    data[central + offset + 2:central + offset + 2 + len(value)] = value
    return bytes(data)


def _truncated_tar_gz() -> bytes:
    payload = make_tar([("model.onnx", os.urandom(20_000))])
    return payload[: len(payload) // 2]


def _corrupt_deflate_tar_gz() -> bytes:
    payload = bytearray(make_tar([("model.onnx", os.urandom(20_000)), ("b", b"x" * 5000)]))
    for i in range(40, 400):
        payload[i] ^= 0xFF
    return bytes(payload)


def _corrupt_bz2() -> bytes:
    payload = bytearray(bz2.compress(make_tar([("model.onnx", os.urandom(5000))],
                                              compression="")))
    payload[40:80] = b"\0" * 40
    return bytes(payload)


STORED = make_zip([("model.onnx", b"onnx" * 100)], compression=zipfile.ZIP_STORED)

BROKEN = {
    "random-bytes": (os.urandom(4096), "not a tar, tar.gz or zip"),
    "text": (b"this is not an archive\n" * 20, "not a tar, tar.gz or zip"),
    "gzip-of-text": (gzip.compress(b"hello " * 200), "corrupt gzip-compressed tar"),
    "truncated-tar-gz": (_truncated_tar_gz(), "corrupt gzip-compressed tar"),
    "corrupt-deflate": (_corrupt_deflate_tar_gz(), "corrupt gzip-compressed tar"),
    "corrupt-bz2": (_corrupt_bz2(), "corrupt bzip2-compressed tar"),
    "truncated-zip": (STORED[: len(STORED) // 2], "corrupt zip"),
    "zip-bad-crc": (STORED.replace(b"onnxonnx", b"xxxxonnx", 1), "corrupt zip"),
    "zip-encrypted": (_zip_with_patched_headers(STORED, 6, b"\x01"), "encrypted"),
    "zip-unknown-method": (_zip_with_patched_headers(STORED, 8, b"\x63\x00"),
                           "unsupported compression method"),
    "zip-understated-size": (_zip_with_patched_headers(STORED, 22, b"\x10\x00\x00\x00"),
                             "corrupt zip"),
    "duplicate-member": (make_tar([("a/model.onnx", b"1"), ("a/model.onnx", b"2")]),
                         "more than once"),
    "file-then-child": (make_tar([("a", b"1"), ("a/b", b"2")]), "is a file"),
    "dir-over-file": (make_tar([("a", b"1"), Member("a/", kind=tarfile.DIRTYPE)]), "clashes"),
    "nameless-file": (make_tar([(".", b"1")]), "no file name"),
}


@pytest.mark.parametrize(("payload", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_archive_is_invalid_and_names_the_problem(
    tmp_path: Path, target: Path, payload: bytes, expected: str
) -> None:
    with pytest.raises(Invalid) as caught:
        extract(tmp_path, target, payload)
    assert type(caught.value) in (Invalid, UnsafeArtifact)
    assert expected in caught.value.message
    assert str(tmp_path) not in caught.value.message  # the server's paths stay private
    assert files_outside(tmp_path, target) == []


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_receive_writes_the_body(tmp_path: Path) -> None:
    written = await archive.receive(_chunks(b"abc", b"def"), tmp_path / "up", limit=6)
    assert written == 6
    assert (tmp_path / "up").read_bytes() == b"abcdef"


async def test_receive_stops_past_the_limit(tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        await archive.receive(_chunks(b"abc", b"def", b"g" * 10**6), tmp_path / "up", limit=6)
    assert caught.value.details == {"limit": 6}
    assert (tmp_path / "up").stat().st_size <= 6


async def test_receive_refuses_an_empty_body(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="empty"):
        await archive.receive(_chunks(), tmp_path / "up", limit=6)


def test_real_model_archive_round_trips(tmp_path: Path, target: Path) -> None:
    files = iris_files()
    extract(tmp_path, target, make_tar([(f"iris/{n}", p) for n, p in files.items()]))
    assert {p.name: p.read_bytes() for p in (target / "iris").iterdir()} == files


def test_member_lying_about_its_size_is_caught(tmp_path: Path, target: Path) -> None:
    """A reader that returns more than the header promised (as a hostile stream could)."""
    with pytest.raises(UnsafeArtifact, match="larger than its header"):
        archive._write(io.BytesIO(b"x" * 100), target, archive._checked_name("f"), "f", limit=10,
                       expansion=archive._Expansion(100, 10**6, 20.0, 0))


# --- decompression bombs: expansion bounded by a ratio of the archive's own size ----------------


def _bomb(kind: str, zeros: int) -> bytes:
    members = [*((f"m/{name}", data) for name, data in iris_files().items()),
               *((f"m/zeros-{i}.bin", b"\0" * (zeros // 4)) for i in range(4))]
    return make_zip(members) if kind == "zip" else make_tar(members)


def _written(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_a_bomb_stops_at_a_ratio_of_its_own_size(tmp_path: Path, target: Path, kind: str) -> None:
    payload = _bomb(kind, 64 * MiB)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    with pytest.raises(PayloadTooLarge) as caught:
        archive.extract(upload, target, max_bytes=8 * 1024 * MiB, ratio=20, floor=0)
    limit = 20 * len(payload)
    assert caught.value.details == {"limit": limit, "ratio": 20, "compressed_bytes": len(payload)}
    assert caught.value.message.startswith(f"archive expands past {limit} bytes, more than 20 "
                                           f"times its {len(payload)} compressed bytes")
    assert "AIAAS_ARCHIVE_MAX_RATIO" in caught.value.message
    assert _written(target) <= limit  # refused as it extracts, not after 64 MiB


def test_small_archives_may_expand_up_to_the_floor(tmp_path: Path, target: Path) -> None:
    payload = _bomb("tar.gz", 4 * MiB)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(payload)
    archive.extract(upload, target, max_bytes=64 * MiB, ratio=20, floor=8 * MiB)
    assert _written(target) >= 4 * MiB


def test_the_absolute_cap_still_holds_whatever_the_ratio(tmp_path: Path, target: Path) -> None:
    with pytest.raises(PayloadTooLarge, match=r"^archive expands past 1048576 bytes$"):
        extract(tmp_path, target, _bomb("zip", 4 * MiB))


def test_over_http_a_bomb_is_413_naming_the_ratio(tmp_path: Path) -> None:
    from tests.conftest import start_server, stop_server

    server = start_server(tmp_path / "data", AIAAS_BUILTIN_MODELS="false",
                          AIAAS_ARCHIVE_MAX_RATIO="10",
                          AIAAS_ARCHIVE_RATIO_FLOOR_BYTES=str(256 * 1024))
    octet = {"Content-Type": "application/octet-stream"}
    try:
        with server.client() as client:
            for kind in ("zip", "tar.gz"):
                response = client.post("/api/v1/models/iris/versions",
                                       content=_bomb(kind, 32 * MiB), headers=octet)
                assert response.status_code == 413, response.text
                error = response.json()["error"]
                assert error["code"] == "payload_too_large" and error["details"]["ratio"] == 10
                assert "more than 10 times its" in error["message"]
            assert client.get("/api/v1/models/iris").status_code == 404
            assert not list((server.data_dir / "artifacts").glob("??/*"))
            assert not list((server.data_dir / "tmp").iterdir())
            ordinary = make_tar([(f"m/{n}", d) for n, d in iris_files().items()])
            response = client.post("/api/v1/models/iris/versions", content=ordinary,
                                   headers=octet)
            assert response.status_code == 201, response.text
    finally:
        stop_server(server)
