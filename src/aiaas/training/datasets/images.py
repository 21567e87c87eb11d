"""Image datasets: a ZIP of class folders, ``<class>/<image>`` (optionally inside one top-level
folder), PNG, JPEG or WebP.

The ZIP is what is stored, and it is read in place, never unpacked to disk: the registry's
``ZipMembers`` checks every header (no absolute paths, no ``..``, no links, member-count and
expansion caps) and inflates one member at a time into memory. Every image is then checked:
readable (decoded in full), of an accepted type, and under the pixel limit read from its header
before any pixel is decoded (a decompression bomb is a 413, never an out-of-memory). Hidden files
and ``__MACOSX`` folders are ignored. Errors name the file as it is in the archive, e.g.
``cats/x.png: not an image``. Reading in place spares a file per image on the data dir's disk
(and, for a sealed tenant, a sealed file per image): an upload is one file, checked at the
speed of decoding.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from aiaas.errors import Invalid
from aiaas.registry.archive import MAX_MEMBERS, ZipMembers
from aiaas.tasks.images import ACCEPTED, check_image, decode_image, sniff
from aiaas.training.datasets.base import DatasetInfo, ImageSet
from aiaas.training.datasets.stats import image_stats

MAX_IMAGES = MAX_MEMBERS
LOAD_SIDE = 256
"""Images are held in memory at most this many pixels on a side once loaded for training."""
MAX_CLASS_NAME = 128


@dataclass(frozen=True)
class Layout:
    """An archive's class folders: ``classes`` in sorted order and, per image, its class and
    its path in the archive (sorted within each class)."""

    classes: list[str]
    images: list[tuple[str, PurePosixPath]]


def _invalid(message: str, member: str | None = None) -> Invalid:
    return Invalid(message, details={"field": "file", **({"member": member} if member else {})})


def _ignored(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


@contextmanager
def _members(source: IO[bytes], size: int, max_bytes: int) -> Iterator[ZipMembers]:
    if not source.read(4).startswith(b"PK"):
        raise _invalid("the .zip file is not a ZIP archive")
    source.seek(0)
    with ZipMembers(source, size, max_bytes=max_bytes) as members:
        yield members


def check(archive_path: Path, *, max_bytes: int, max_pixels: int) -> dict[str, Any]:
    """The set's statistics, once the ZIP's class folders are checked and every image decoded
    (``Invalid``/``PayloadTooLarge`` naming the member otherwise); nothing is written."""
    with archive_path.open("rb") as handle, \
            _members(handle, archive_path.stat().st_size, max_bytes) as members:
        layout = _layout(members)
        sizes: list[tuple[int, int]] = []
        formats: list[str] = []
        for _, path in layout.images:
            kind, size = _check_image(members.read(path), path.as_posix(), max_pixels)
            sizes.append(size)
            formats.append(kind)
    return image_stats([label for label, _ in layout.images], sizes, formats)


def _layout(members: ZipMembers) -> Layout:
    """Class folders from the member paths, with the checks a tree of folders gets: one
    top-level folder holding only folders is stepped into; files must sit in a class folder."""
    files = [(p.parts, p) for p in members.files if not any(map(_ignored, p.parts))]
    folders = {p.parts for p in members.dirs if not any(map(_ignored, p.parts))}
    folders |= {parts[:depth] for parts, _ in files for depth in range(1, len(parts))}
    depth = 0
    if len({parts[0] for parts, _ in files} | {parts[0] for parts in folders}) == 1 and all(
            len(parts) > 2 for parts, _ in files):
        depth = 1  # one top-level folder of class folders: step into it
    for folder in sorted(folders):
        if len(folder) > depth + 1:
            where = "/".join(folder[:depth + 2])
            raise _invalid(f"{where}: folders inside a class folder are not allowed; use "
                           "<class>/<image>", where)
    by_class: dict[str, list[PurePosixPath]] = {
        folder[depth]: [] for folder in folders if len(folder) == depth + 1}
    for parts, path in files:
        if len(parts) == depth + 1:
            raise _invalid(f"{path.as_posix()}: every image must be in a class folder "
                           "(<class>/<image>)", path.as_posix())
        by_class[parts[depth]].append(path)
    images: list[tuple[str, PurePosixPath]] = []
    prefix = PurePosixPath(*next(iter(folders))[:depth]) if depth else PurePosixPath()
    for name in sorted(by_class):
        where = (prefix / name).as_posix()
        if len(name) > MAX_CLASS_NAME:
            raise _invalid(f"{where}: class folder names are at most {MAX_CLASS_NAME} "
                           "characters", where)
        paths = sorted(by_class[name], key=lambda p: p.name)
        if not paths:
            raise _invalid(f"class folder {where!r} is empty; every class needs at least 2 "
                           "images", where)
        if len(paths) == 1:
            raise _invalid(f"class {name!r} has only one image ({paths[0].as_posix()}); "
                           "every class needs at least 2", where)
        images.extend((name, path) for path in paths)
    if len(by_class) < 2:
        classes = sorted(by_class)
        found = f"found {len(classes)} ({', '.join(classes)})" if classes else "found none"
        raise _invalid("an image dataset needs at least 2 class folders (<class>/<image>); "
                       + found)
    return Layout(sorted(by_class), images)


def _check_image(data: bytes, member: str, max_pixels: int) -> tuple[str, tuple[int, int]]:
    """The image's format and size, once a decode (as a job's load decodes it) proved it
    readable; the errors carry the dataset's ``field`` and the ``member``."""
    if sniff(data) is None:
        raise _invalid(f"{member}: not an image (expected {ACCEPTED})", member)
    try:
        return check_image(data, max_pixels=max_pixels, where=member, working_side=LOAD_SIDE)
    except Invalid as exc:
        extra = {k: v for k, v in exc.details.items() if k != "field"} if isinstance(
            exc.details, dict) else {}
        raise type(exc)(exc.message, details={"field": "file", "member": member, **extra}
                        ) from None


def load(source: IO[bytes], info: DatasetInfo, *, max_bytes: int, max_pixels: int) -> ImageSet:
    """Decode the stored ZIP's images (RGB, shrunk to ``LOAD_SIDE``), classes in sorted order,
    checked as at upload; ``source`` is the stored ZIP's plaintext (read into memory when it
    cannot seek, as a decrypting stream cannot)."""
    if not source.seekable():
        source = io.BytesIO(source.read())
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    with _members(source, size, max_bytes) as members:
        layout = _layout(members)
        decoded = [decode_image(members.read(path), max_pixels=max_pixels, where=path.as_posix(),
                                working_side=LOAD_SIDE) for _, path in layout.images]
    return ImageSet(info, decoded, [label for label, _ in layout.images], layout.classes)


def load_tree(root: Path, info: DatasetInfo, *, max_pixels: int,
              read: Callable[[Path], bytes] = Path.read_bytes) -> ImageSet:
    """A set stored unpacked (``root/<class>/<file>``), as uploads were before ZIPs were read
    in place; ``read`` gives a stored file's bytes (decrypted when the dataset is sealed)."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for name in classes:
        for path in sorted(p for p in (root / name).iterdir() if not _ignored(p.name)):
            images.append(decode_image(read(path), max_pixels=max_pixels,
                                       where=f"{name}/{path.name}", working_side=LOAD_SIDE))
            labels.append(name)
    return ImageSet(info, images, labels, classes)
