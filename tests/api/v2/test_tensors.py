"""V2 tensor decoding: base64 and binary-framed BYTES, and nested data."""

from __future__ import annotations

import base64

import pytest

from aiaas.api.v2.protocol import RequestInput
from aiaas.api.v2.tensors import TensorSpec, decode
from aiaas.errors import Invalid


def test_tensor_decoding_rules() -> None:
    image = TensorSpec("image", "BYTES", (-1,), raw_bytes=True)
    raw = b"\x89PNG\r\n\x1a\n\x00\xff"
    encoded = RequestInput(name="image", shape=[1], datatype="BYTES", data=[base64.b64encode(raw).decode()],
                           parameters={"content_type": "base64"})
    assert decode(encoded, image, None).values == [raw]
    framed = RequestInput(name="image", shape=[2], datatype="BYTES")
    blob = b"".join(len(x).to_bytes(4, "little") + x for x in (raw, b""))
    assert decode(framed, image, blob).values == [raw, b""]
    with pytest.raises(Invalid, match="content_type"):
        decode(RequestInput(name="image", shape=[1], datatype="BYTES", data=["aGk="]), image, None)
    with pytest.raises(Invalid, match="declares 10 bytes"):
        decode(framed, image, (10).to_bytes(4, "little") + b"abc")
    nested = RequestInput(name="t", shape=[2, 1], datatype="BYTES", data=[["a"], ["b"]])
    assert decode(nested, TensorSpec("t", "BYTES", (-1, 1)), None).values == [b"a", b"b"]
