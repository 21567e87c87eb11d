"""Decode untrusted input images: PNG, JPEG or WebP only, pixel count checked before decoding.

``image_bytes`` takes what a caller sent (base64 text, optionally a ``data:`` URL, an object
``{"image": base64}``, or raw bytes from a multipart upload) and returns the encoded bytes;
``decode_image`` turns them into an RGB ``PIL.Image``. Every failure is a domain error naming
``where`` (e.g. ``inputs[2]``): ``Invalid`` (422) for what is not a whole image of an accepted
type, ``PayloadTooLarge`` (413) for an image whose header claims more pixels than allowed —
known from the header alone, so a decompression bomb is refused before any pixel is allocated.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from PIL import Image

from aiaas.errors import Invalid, PayloadTooLarge

DEFAULT_MAX_PIXELS = 40_000_000
# Decoded images larger than this on a side are shrunk (aspect kept) right after decoding, so a
# request of many large images holds at most one full-size bitmap at a time. Classifiers take
# inputs far smaller than this.
WORKING_SIDE = 1024
ACCEPTED = "PNG, JPEG or WebP"
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_T = TypeVar("_T")


def sniff(data: bytes) -> str | None:
    """The Pillow format name from the magic bytes, or ``None`` for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def image_bytes(item: Any, where: str) -> bytes:
    """The encoded image from a request item: base64 text, ``{"image": base64}`` or bytes."""
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"image"})
        if unknown:
            raise _invalid(where, f"unknown field(s) {', '.join(map(str, unknown))}; expected "
                                  '{"image": "<base64>"}')
        if "image" not in item:
            raise _invalid(where, 'expected {"image": "<base64>"}: the "image" field is missing')
        item = item["image"]
    if isinstance(item, bytes | bytearray):
        data = bytes(item)
    elif isinstance(item, str):
        data = decode_base64(item, where)
    else:
        raise _invalid(where, f"expected a base64-encoded {ACCEPTED} image as a string, "
                              f"got {type(item).__name__}")
    if not data:
        raise _invalid(where, "the image is empty")
    return data


def decode_base64(text: str, where: str) -> bytes:
    """Standard base64 (line breaks and a ``data:image/...;base64,`` prefix allowed)."""
    compact = _WHITESPACE.sub("", _DATA_URL.sub("", text.strip(), count=1))
    if not compact:
        raise _invalid(where, "empty string: expected a base64-encoded image")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(where, "not valid base64: expected a base64-encoded "
                              f"{ACCEPTED} image") from None


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, where: str = "image",
    working_side: int = WORKING_SIDE,
) -> Image.Image:
    """Decode one PNG/JPEG/WebP to RGB (first frame), shrunk to fit ``working_side``.

    The size is read from the header and checked against ``max_pixels`` before decoding.
    Pillow's own bomb limit (``Image.MAX_IMAGE_PIXELS``) is raised to ``max_pixels`` when it is
    lower, never lowered; its ``DecompressionBombError``/``Warning`` also become a 413.
    """
    with _loaded(data, max_pixels, where, working_side) as (kind, image):
        rgb = _converted(kind, where, lambda: _to_rgb(image))
    if max(rgb.size) > working_side:
        rgb.thumbnail((working_side, working_side), Image.Resampling.BILINEAR)
    return rgb


def check_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, where: str = "image",
                working_side: int = WORKING_SIDE) -> tuple[str, tuple[int, int]]:
    """The image's format and size, once it is decoded as ``decode_image`` would decode it
    (with the same errors), without the RGB copy: a dataset's upload proves every image
    readable this way and decodes them for real only when a job loads them."""
    with _loaded(data, max_pixels, where, working_side) as (kind, image):
        return kind, image.size


@contextmanager
def _loaded(data: bytes, max_pixels: int, where: str, working_side: int
            ) -> Iterator[tuple[str, Image.Image]]:
    """The image opened and its pixels decoded (a JPEG at the scale nearest ``working_side``)."""
    kind = sniff(data)
    if kind is None:
        raise _invalid(where, f"not a {ACCEPTED} image ({_describe(data)})")
    if Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = max_pixels

    def open_and_load() -> Image.Image:
        image = Image.open(io.BytesIO(data), formats=[kind])
        try:
            _check_pixels(*image.size, max_pixels, where)
            if kind == "JPEG":
                image.draft("RGB", (working_side, working_side))
            image.load()
        except BaseException:
            image.close()
            raise
        return image

    try:
        image = _converted(kind, where, open_and_load)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge.at(where, f"the image has more pixels than the limit of {max_pixels} "
                                        f"(AIAAS_MAX_IMAGE_PIXELS): {exc}",
                                 limit=max_pixels) from None
    with image:
        yield kind, image


def _converted(kind: str, where: str, step: Callable[[], _T]) -> _T:
    """``step``'s result; what Pillow raises on a corrupt file (OSError, SyntaxError,
    ValueError, struct.error...) becomes an ``Invalid`` naming ``where``."""
    try:
        return step()
    except (Invalid, MemoryError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise
    except Exception as exc:
        problem = "truncated" if "truncated" in str(exc) else "corrupt"
        raise _invalid(where, f"the {kind} image is {problem} or unreadable: {exc}") from None


def _check_pixels(width: int, height: int, max_pixels: int, where: str) -> None:
    if width <= 0 or height <= 0:
        raise _invalid(where, f"the image header gives an empty size {width}x{height}")
    if width * height > max_pixels:
        raise PayloadTooLarge.at(
            where, f"the image is {width}x{height} = {width * height} pixels, over the limit of "
                   f"{max_pixels} (AIAAS_MAX_IMAGE_PIXELS)",
            width=width, height=height, limit=max_pixels,
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/float greyscale: scale to 8 bits first (convert("RGB") would clip).
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


def _describe(data: bytes) -> str:
    head = data[:16]
    try:
        text = data[:64].decode("utf-8")
    except UnicodeDecodeError:
        return f"it starts with {head!r}"
    if all(c.isprintable() or c.isspace() for c in text):
        return f"it looks like text: {text[:24]!r}"
    return f"it starts with {head!r}"


def _invalid(where: str, message: str) -> Invalid:
    return Invalid.at(where, message)
