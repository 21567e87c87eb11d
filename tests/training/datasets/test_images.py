"""Image ZIP datasets: loaded as an image set with statistics, errors that name the file, and
bombs, traversal, links and fake ZIPs refused before anything is stored."""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact
from aiaas.training import datasets
from aiaas.training.datasets.uploads import DatasetStore
from tests.training.datasets.conftest import _add, _nothing_stored


def _png(size: tuple[int, int] = (12, 10), color: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (color, 100, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes | None], *, links: tuple[str, ...] = ()) -> bytes:
    """``None`` makes a directory entry; ``links`` are written as symlink members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _classes(prefix: str = "", per_class: int = 3) -> dict[str, bytes | None]:
    return {f"{prefix}{cls}/{i}.png": _png((10 + i, 8), color=40 * i)
            for cls in ("cats", "dogs") for i in range(per_class)}


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def _zip_error(store: DatasetStore, tmp_path: Path, members: dict[str, bytes | None],
               expected: type[Invalid] = Invalid, **kwargs: Any) -> str:
    with pytest.raises(expected) as caught:
        _add(store, tmp_path, "pics.zip", _zip(members, **kwargs))
    assert _nothing_stored(store)
    return caught.value.message


def test_image_zip_loads_as_an_image_set_with_stats(store: DatasetStore, tmp_path: Path) -> None:
    members = {"pets/.DS_Store": b"junk", "__MACOSX/._x": b"junk", **_classes("pets/")}
    record = _add(store, tmp_path, "Pets.zip", _zip(members))
    assert (record.name, record.kind, record.format, record.rows) == ("pets", "images", "zip", 6)
    assert record.stats["classes"] == {"cats": 3, "dogs": 3}
    assert record.stats["image_sizes"] == {"width": {"min": 10, "max": 12, "mean": 11.0},
                                           "height": {"min": 8, "max": 8, "mean": 8.0}}
    loaded = store.load(record)
    assert isinstance(loaded, datasets.ImageSet)
    assert loaded.classes == ["cats", "dogs"] and loaded.labels == ["cats"] * 3 + ["dogs"] * 3
    assert [image.size for image in loaded.images[:3]] == [(10, 8), (11, 8), (12, 8)]
    assert loaded.info.id == record.id and loaded.info.kind == "images"
    assert (store.root / record.id / "original.zip").read_bytes() == _zip(members)


def test_image_zip_errors_name_the_file(store: DatasetStore, tmp_path: Path) -> None:
    assert _zip_error(store, tmp_path, {**_classes(), "cats/x.png": b"hello, not a picture"}) == \
        "cats/x.png: not an image (expected PNG, JPEG or WebP)"
    truncated = _png()[:40]
    assert _zip_error(store, tmp_path, {**_classes(), "dogs/t.png": truncated}).startswith(
        "dogs/t.png: ")
    assert _zip_error(store, tmp_path, {**_classes(), "birds/": None}) == \
        "class folder 'birds' is empty; every class needs at least 2 images"
    assert _zip_error(store, tmp_path, {"cats/a.png": _png(), "cats/b.png": _png()}) == \
        "an image dataset needs at least 2 class folders (<class>/<image>); found 1 (cats)"
    assert _zip_error(store, tmp_path, {**_classes(), "owls/only.png": _png()}) == \
        "class 'owls' has only one image (owls/only.png); every class needs at least 2"
    assert _zip_error(store, tmp_path, {**_classes(), "readme.txt": b"hi"}) == \
        "readme.txt: every image must be in a class folder (<class>/<image>)"
    assert _zip_error(store, tmp_path, {**_classes(), "cats/more/a.png": _png()}) == \
        "cats/more: folders inside a class folder are not allowed; use <class>/<image>"


def test_decompression_bombs_are_413_before_decoding(store: DatasetStore, tmp_path: Path) -> None:
    message = _zip_error(store, tmp_path, {**_classes(), "cats/bomb.png": _bomb_png(7000, 7000)},
                         PayloadTooLarge)
    assert message == ("cats/bomb.png: the image is 7000x7000 = 49000000 pixels, over the limit "
                       "of 40000000 (AIAAS_MAX_IMAGE_PIXELS)")
    message = _zip_error(store, tmp_path, {**_classes(), "dogs/huge.png": _bomb_png(60_000, 60_000)},
                         PayloadTooLarge)
    assert message.startswith("dogs/huge.png: the image has more pixels than the limit of 40000000")
    zeros = {**_classes(), "cats/zeros.png": b"\0" * (store.max_upload_bytes * 5)}
    assert _zip_error(store, tmp_path, zeros, PayloadTooLarge).startswith("archive expands past")


def test_traversal_links_and_fake_zips_are_refused(store: DatasetStore, tmp_path: Path) -> None:
    assert _zip_error(store, tmp_path, {**_classes(), "../evil.png": _png()}, UnsafeArtifact) == \
        "archive member escapes the target directory: '../evil.png'"
    assert _zip_error(store, tmp_path, {"/abs/a.png": _png()}, UnsafeArtifact).startswith(
        "archive member escapes the target directory")
    assert _zip_error(store, tmp_path, _classes(), UnsafeArtifact, links=("cats/link.png",)) == \
        "archive member is a link: 'cats/link.png'"
    assert not (tmp_path / "evil.png").exists() and not (store.root.parent / "evil.png").exists()
    with pytest.raises(Invalid, match=r"the \.zip file is not a ZIP archive"):
        _add(store, tmp_path, "pics.zip", b"\x1f\x8b not a zip")
    assert _nothing_stored(store)


def test_an_image_set_is_stored_as_its_zip_alone_and_read_in_place(store: DatasetStore,
                                                                   tmp_path: Path) -> None:
    record = _add(store, tmp_path, "pets.zip", _zip(_classes("pets/")))
    assert sorted(p.name for p in (store.root / record.id).rglob("*")) == ["original.zip"]
    assert not [p for p in store.tmp_dir.rglob("*") if p.is_file()]  # nothing left unpacked
    assert store.load(record).labels == ["cats"] * 3 + ["dogs"] * 3  # type: ignore[attr-defined]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it is told to write
        for name, data in {**_classes(), "cats/0.png": _png(color=9)}.items():
            zf.writestr(name, data)
        zf.writestr("cats/0.png", _png(color=7))
    with pytest.raises(Invalid, match=r"archive member 'cats/0\.png' appears more than once"):
        _add(store, tmp_path, "twice.zip", buffer.getvalue())
    assert [r.name for r in store.list_datasets("t")] == ["pets"]


def test_a_set_stored_unpacked_by_an_earlier_version_still_loads(store: DatasetStore,
                                                                tmp_path: Path) -> None:
    record = _add(store, tmp_path, "pets.zip", _zip(_classes()))
    folder = store.root / record.id
    with zipfile.ZipFile(folder / "original.zip") as zf:
        zf.extractall(folder / "images")
    (folder / "original.zip").write_bytes(b"PK not read when the tree is there")
    loaded = store.load(record)
    assert isinstance(loaded, datasets.ImageSet) and loaded.classes == ["cats", "dogs"]
    assert [image.size for image in loaded.images[:3]] == [(10, 8), (11, 8), (12, 8)]


def test_a_stored_zip_modified_later_fails_to_load_with_the_member_named(
        store: DatasetStore, tmp_path: Path) -> None:
    record = _add(store, tmp_path, "pets.zip", _zip(_classes()))
    (store.root / record.id / "original.zip").write_bytes(
        _zip({**_classes(), "dogs/1.png": b"not a picture any more"}))
    with pytest.raises(Invalid, match=r"dogs/1\.png: "):
        store.load(record)
