"""Image datasets: a ZIP of class folders, ``<class>/<image>`` (optionally inside one top-level
folder), PNG, JPEG or WebP.

The archive is unpacked with the registry's safe extraction (no absolute paths, no ``..``, no
links, member-count and expanded-size caps), then every image is checked: readable, of an
accepted type, and under the pixel limit read from its header before any pixel is decoded (a
decompression bomb is a 413, never an out-of-memory). Hidden files and ``__MACOSX`` folders are
ignored. Errors name the file as it is in the archive, e.g. ``cats/x.png: not an image``.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiaas.errors import Invalid, PayloadTooLarge
from aiaas.registry import archive
from aiaas.tasks.images import ACCEPTED, decode_image, sniff
from aiaas.training.datasets.base import DatasetInfo, ImageSet
from aiaas.training.datasets.stats import image_stats

MAX_IMAGES = archive.MAX_MEMBERS
LOAD_SIDE = 256
"""Images are held in memory at most this many pixels on a side once loaded for training."""
MAX_CLASS_NAME = 128


@dataclass(frozen=True)
class Folder:
    """The class folders found and checked: ``root/<class>/<file>``."""

    root: Path
    classes: list[str]
    stats: dict[str, Any]


def _invalid(message: str, member: str | None = None) -> Invalid:
    return Invalid(message, details={"field": "file", **({"member": member} if member else {})})


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not _ignored(p))


def unpack(archive_path: Path, tree: Path, *, max_bytes: int, max_pixels: int) -> Folder:
    """Extract the zip into the empty ``tree`` and check its class folders and images."""
    with archive_path.open("rb") as handle:
        if not handle.read(4).startswith(b"PK"):
            raise _invalid("the .zip file is not a ZIP archive")
    tree.mkdir()
    archive.extract(archive_path, tree, max_bytes=max_bytes)
    root, prefix = tree, ""
    top = _entries(tree)
    if len(top) == 1 and top[0].is_dir() and all(p.is_dir() for p in _entries(top[0])):
        root, prefix = top[0], top[0].name + "/"
    return _check(root, prefix, max_pixels)


def _check(root: Path, prefix: str, max_pixels: int) -> Folder:
    classes: list[str] = []
    labels: list[str] = []
    sizes: list[tuple[int, int]] = []
    formats: list[str] = []
    for entry in _entries(root):
        where = prefix + entry.name
        if not entry.is_dir():
            raise _invalid(f"{where}: every image must be in a class folder (<class>/<image>)",
                           where)
        if len(entry.name) > MAX_CLASS_NAME:
            raise _invalid(f"{where}: class folder names are at most {MAX_CLASS_NAME} characters",
                           where)
        files = _entries(entry)
        if not files:
            raise _invalid(f"class folder {where!r} is empty; every class needs at least 2 "
                           "images", where)
        for path in files:
            member = f"{where}/{path.name}"
            if path.is_dir():
                raise _invalid(f"{member}: folders inside a class folder are not allowed; use "
                               "<class>/<image>", member)
            kind, size = _check_image(path, member, max_pixels)
            labels.append(entry.name)
            sizes.append(size)
            formats.append(kind)
        if len(files) == 1:
            raise _invalid(f"class {entry.name!r} has only one image ({where}/{files[0].name}); "
                           "every class needs at least 2", where)
        classes.append(entry.name)
    if len(classes) < 2:
        found = f"found {len(classes)} ({', '.join(classes)})" if classes else "found none"
        raise _invalid("an image dataset needs at least 2 class folders (<class>/<image>); "
                       + found)
    return Folder(root, classes, image_stats(labels, sizes, formats))


def _check_image(path: Path, member: str, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """The image's format and size from its header, after a full decode proved it readable."""
    from PIL import Image

    data = path.read_bytes()
    kind = sniff(data)
    if kind is None:
        raise _invalid(f"{member}: not an image (expected {ACCEPTED})", member)
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            size = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"{member}: the image has more pixels than the limit of "
                              f"{max_pixels} (AIAAS_MAX_IMAGE_PIXELS): {exc}",
                              details={"field": "file", "member": member, "limit": max_pixels}
                              ) from None
    except Exception as exc:
        raise _invalid(f"{member}: not an image: the {kind} header is unreadable ({exc})",
                       member) from None
    if size[0] * size[1] > max_pixels:
        raise PayloadTooLarge(
            f"{member}: the image is {size[0]}x{size[1]} = {size[0] * size[1]} pixels, over the "
            f"limit of {max_pixels} (AIAAS_MAX_IMAGE_PIXELS)",
            details={"field": "file", "member": member, "limit": max_pixels})
    decode_image(data, max_pixels=max_pixels, where=member, working_side=LOAD_SIDE)
    return kind, size


def store(folder: Folder, target: Path) -> None:
    """Move the checked class folders to ``target`` (``target/<class>/<file>``)."""
    target.mkdir()
    for name in folder.classes:
        shutil.move(folder.root / name, target / name)


def load(root: Path, info: DatasetInfo, *, max_pixels: int,
         read: Callable[[Path], bytes] = Path.read_bytes) -> ImageSet:
    """Decode the stored images (RGB, shrunk to ``LOAD_SIDE``), classes in sorted order;
    ``read`` gives a stored file's bytes (decrypted when the dataset is sealed)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for name in classes:
        for path in sorted(p for p in (root / name).iterdir() if not _ignored(p)):
            images.append(decode_image(read(path), max_pixels=max_pixels,
                                       where=f"{name}/{path.name}", working_side=LOAD_SIDE))
            labels.append(name)
    return ImageSet(info, images, labels, classes)
