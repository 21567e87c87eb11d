"""Decoding untrusted images: accepted types, RGB out, and a named 4xx for everything else."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from PIL import Image

from aiaas.errors import Invalid, PayloadTooLarge
from aiaas.tasks.images import WORKING_SIDE, decode_base64, decode_image, image_bytes, sniff
from tests.runtime.tiny_models import b64, bomb_png, picture


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_each_accepted_type_decodes_to_rgb_at_its_size(fmt: str) -> None:
    data = picture(fmt, (48, 40))
    assert sniff(data) == fmt
    image = decode_image(data, where="inputs[0]")
    assert image.mode == "RGB" and image.size == (48, 40)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "LA", "I;16"])
def test_other_modes_become_rgb(mode: str) -> None:
    if mode == "I;16":
        buffer = io.BytesIO()
        Image.new("I;16", (8, 6), 40000).save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        data = picture("PNG", (8, 6), mode=mode)
    image = decode_image(data)
    assert image.mode == "RGB" and image.size == (8, 6)
    if mode == "I;16":
        assert image.getpixel((0, 0)) == (156, 156, 156)  # 40000 / 256, not clipped to 255


def test_large_images_are_shrunk_to_the_working_side_keeping_the_aspect() -> None:
    image = decode_image(picture("JPEG", (WORKING_SIDE * 2, WORKING_SIDE)))
    assert image.size == (WORKING_SIDE, WORKING_SIDE // 2)


def test_a_text_file_is_refused_naming_the_input_and_what_it_looks_like() -> None:
    with pytest.raises(Invalid, match=r"inputs\[3\]: not a PNG, JPEG or WebP image .*looks like text"):
        decode_image(b"name,age\nada,36\n", where="inputs[3]")


def test_gif_is_not_accepted() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="GIF")
    with pytest.raises(Invalid, match="not a PNG, JPEG or WebP"):
        decode_image(buffer.getvalue())


def test_a_bomb_header_is_refused_before_any_pixel_is_allocated() -> None:
    data = bomb_png(100_000, 100_000)
    assert len(data) < 100
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="inputs\\[0\\]") as caught:
            decode_image(data, where="inputs[0]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert caught.value.details["field"] == "inputs[0]"


def test_our_pixel_limit_applies_below_pillows_own() -> None:
    with pytest.raises(PayloadTooLarge, match=r"8000x8000 = 64000000 pixels, over the limit of 40000000"):
        decode_image(bomb_png(8000, 8000), max_pixels=40_000_000)
    with pytest.raises(PayloadTooLarge, match="20x20 = 400 pixels"):
        decode_image(picture("PNG", (20, 20)), max_pixels=399)
    assert decode_image(picture("PNG", (20, 20)), max_pixels=400).size == (20, 20)


def test_pillows_own_bomb_check_becomes_a_413(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's limit is never lowered by us; when someone set it lower, its error and warning
    still come out as a 413, not a 500."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(PayloadTooLarge, match="more pixels than the limit"):
        decode_image(picture("PNG", (30, 30)), max_pixels=10)  # 900 > 2 x 100: Pillow's error
    with pytest.raises(PayloadTooLarge):
        decode_image(picture("PNG", (12, 12)), max_pixels=10)  # 144: Pillow's warning
    assert Image.MAX_IMAGE_PIXELS == 100


def test_pillows_limit_is_raised_to_ours_so_allowed_images_decode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert decode_image(picture("PNG", (30, 30)), max_pixels=1000).size == (30, 30)
    assert Image.MAX_IMAGE_PIXELS == 1000


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_422(fmt: str) -> None:
    data = picture(fmt, (64, 64))
    with pytest.raises(Invalid, match=f"inputs\\[1\\]: the {fmt} image is (truncated|corrupt)") as caught:
        decode_image(data[: len(data) // 2], where="inputs[1]")
    assert not isinstance(caught.value, PayloadTooLarge)


def test_a_corrupt_png_header_is_422() -> None:
    data = bytearray(picture("PNG"))
    data[16:24] = b"\xff" * 8  # width and height, now with a wrong CRC
    with pytest.raises(Invalid, match="PNG image is"):
        decode_image(bytes(data))


def test_base64_forms_accepted_and_refused() -> None:
    data = picture("PNG", (4, 4))
    encoded = b64(data)
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert decode_base64(wrapped, "x") == data
    assert decode_base64(f"data:image/png;base64,{encoded}", "x") == data
    assert image_bytes({"image": encoded}, "x") == data
    assert image_bytes(data, "x") == data
    with pytest.raises(Invalid, match=r"inputs\[0\]: not valid base64"):
        image_bytes("this is not base64!", "inputs[0]")
    with pytest.raises(Invalid, match="empty string"):
        image_bytes("   ", "inputs[0]")
    with pytest.raises(Invalid, match='"image" field is missing'):
        image_bytes({}, "inputs[0]")
    with pytest.raises(Invalid, match="unknown field"):
        image_bytes({"image": encoded, "url": "http://x"}, "inputs[0]")
    with pytest.raises(Invalid, match="got int"):
        image_bytes(7, "inputs[0]")
    with pytest.raises(Invalid, match="empty"):
        image_bytes(b"", "inputs[0]")
