"""V2 tensor data to and from flat, row-major Python values.

Two encodings, as Triton speaks them:

- JSON: ``data`` is a list, flat or nested to match ``shape``. BYTES elements are strings: their
  UTF-8 bytes, or (with the tensor parameter ``"content_type": "base64"``) base64 of the bytes.
- Binary tensor data extension: the body is the JSON header, then each tensor's bytes in order;
  the ``Inference-Header-Content-Length`` header gives the JSON length and each tensor's
  ``parameters.binary_data_size`` its byte count. Numbers are little-endian; each BYTES element
  is a 4-byte little-endian length followed by its bytes.

Every problem is ``Invalid`` naming the tensor.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aiaas.api.v2.protocol import RequestInput
from aiaas.errors import Invalid

HEADER_LENGTH = "Inference-Header-Content-Length"
DATATYPES = frozenset({"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
                       "INT64", "FP16", "FP32", "FP64", "BF16", "BYTES"})
SUPPORTED = frozenset({"FP32", "BYTES"})
FP32_MAX = float(np.finfo(np.float32).max)
CONTENT_TYPES = frozenset({"str", "base64"})
_SHARED_MEMORY = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor a model takes or gives. ``-1`` in ``shape`` is a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    raw_bytes: bool = False
    """BYTES elements are binary payloads (encoded images): JSON must carry them as base64."""

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class Tensor:
    """A checked input: FP32 elements as floats, BYTES elements as bytes, flat and row-major."""

    name: str
    shape: tuple[int, ...]
    values: list[Any]

    def rows(self) -> list[list[Any]]:
        width = self.shape[1]
        return [self.values[i:i + width] for i in range(0, len(self.values), width)]


@dataclass(frozen=True, slots=True)
class OutputTensor:
    """An output, flat and row-major: floats for FP32, strings for BYTES."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]

    def encode(self, *, binary: bool) -> tuple[dict[str, Any], bytes | None]:
        """The JSON entry for this output and, when ``binary``, the bytes that follow the JSON."""
        entry: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": self.shape}
        if not binary:
            entry["data"] = self.values
            return entry, None
        if self.datatype == "BYTES":
            blob = b"".join(_length_prefixed(str(v).encode()) for v in self.values)
        else:
            blob = np.asarray(self.values, dtype="<f4").tobytes()
        entry["parameters"] = {"binary_data_size": len(blob)}
        return entry, blob


def _length_prefixed(element: bytes) -> bytes:
    return len(element).to_bytes(4, "little") + element


def bad(name: str, message: str) -> Invalid:
    return Invalid(f"input {name!r}: {message}", details={"tensor": name})


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a request body."""
    if header_length is None:
        return body, b""
    value = header_length.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 12 and int(value) <= len(body)):
        raise Invalid(f"{HEADER_LENGTH} must be the byte length of the JSON part of the body "
                      f"(0 to {len(body)}), got {header_length[:20]!r}")
    return body[:int(value)], body[int(value):]


def binary_parts(inputs: list[RequestInput], tail: bytes, *, framed: bool) -> list[bytes | None]:
    """Each input's binary data (None for inputs sent as JSON ``data``), cut from ``tail``."""
    parts: list[bytes | None] = []
    offset = 0
    for tensor in inputs:
        size = (tensor.parameters or {}).get("binary_data_size")
        if size is None:
            parts.append(None)
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise bad(tensor.name, "binary_data_size must be a non-negative integer")
        if not framed:
            raise bad(tensor.name, f"binary_data_size needs the {HEADER_LENGTH} header")
        if tensor.data is not None:
            raise bad(tensor.name, "has both 'data' and binary_data_size; send one")
        if offset + size > len(tail):
            raise bad(tensor.name, f"binary_data_size {size} runs past the end of the body "
                                   f"({len(tail) - offset} bytes left)")
        parts.append(tail[offset:offset + size])
        offset += size
    if offset != len(tail):
        raise Invalid(f"the body carries {len(tail) - offset} bytes of binary data that no input "
                      "declares with binary_data_size")
    return parts


def decode(tensor: RequestInput, spec: TensorSpec, binary: bytes | None) -> Tensor:
    """Check ``tensor`` against the model's ``spec`` and return its elements."""
    name = tensor.name
    if tensor.datatype not in DATATYPES:
        raise bad(name, f"unknown datatype {tensor.datatype!r}; "
                        f"V2 datatypes: {', '.join(sorted(DATATYPES))}")
    if tensor.datatype != spec.datatype:
        raise bad(name, f"datatype {tensor.datatype} does not match the model's {spec.datatype}")
    shape = _check_shape(tensor, spec)
    content_type = _content_type(tensor, spec, binary is not None)
    count = math.prod(shape)
    if binary is not None:
        elements = _binary_elements(name, spec, shape, count, binary)
    else:
        elements = _json_elements(name, spec, shape, count, tensor.data)
    if spec.datatype == "BYTES" and content_type == "base64":
        elements = [_unbase64(name, i, e) for i, e in enumerate(elements)]
    return Tensor(name, shape, elements)


def _check_shape(tensor: RequestInput, spec: TensorSpec) -> tuple[int, ...]:
    shape = tuple(tensor.shape)
    expected = list(spec.shape)
    if len(shape) != len(spec.shape):
        raise bad(tensor.name, f"shape {list(shape)} has {len(shape)} dimension(s); the model "
                               f"takes {expected}")
    if any(dim < 0 for dim in shape):
        raise bad(tensor.name, f"shape {list(shape)} has a negative dimension")
    if any(want not in (-1, dim) for dim, want in zip(shape, spec.shape, strict=True)):
        raise bad(tensor.name, f"shape {list(shape)} does not match the model's {expected}")
    return shape


def _content_type(tensor: RequestInput, spec: TensorSpec, binary: bool) -> str | None:
    parameters = dict(tensor.parameters or {})
    parameters.pop("binary_data_size", None)
    if any(key in parameters for key in _SHARED_MEMORY):
        raise bad(tensor.name, "shared-memory tensors are not supported; send data in the body")
    content_type = parameters.pop("content_type", None)
    if parameters:
        raise bad(tensor.name, f"unknown parameter(s) {', '.join(sorted(parameters))}; "
                               "known: content_type, binary_data_size")
    if content_type is not None and (spec.datatype != "BYTES" or content_type not in CONTENT_TYPES):
        raise bad(tensor.name, f"content_type {content_type!r} is not supported here; BYTES "
                               "inputs take 'str' or 'base64'")
    if spec.raw_bytes and not binary and content_type != "base64":
        raise bad(tensor.name, 'in JSON, send the encoded bytes as base64 strings with "parameters":'
                               ' {"content_type": "base64"}, or use the binary tensor extension')
    return str(content_type) if content_type is not None else None


def _json_elements(name: str, spec: TensorSpec, shape: tuple[int, ...], count: int,
                   data: Any) -> list[Any]:
    if data is None:
        raise bad(name, "has no 'data' (and no binary_data_size)")
    if not isinstance(data, list):
        raise bad(name, f"'data' must be a list, got {type(data).__name__}")
    if any(isinstance(element, list) for element in data):
        flat: list[Any] = []
        _unnest(name, data, shape, list(shape), "data", flat)
    else:
        flat = data
    if len(flat) != count:
        raise bad(name, f"shape {list(shape)} needs {count} element(s), got {len(flat)}")
    if spec.datatype == "FP32":
        return [_fp32(name, i, value) for i, value in enumerate(flat)]
    for i, value in enumerate(flat):
        if not isinstance(value, str):
            raise bad(name, f"element {i} is {_kind(value)}, not a string (datatype BYTES)")
    return [value.encode() for value in flat]


def _unnest(name: str, node: list[Any], shape: tuple[int, ...], full: list[int], where: str,
            out: list[Any]) -> None:
    """Flatten nested data, checking each level's length against the shape (depth <= rank)."""
    if len(node) != shape[0]:
        raise bad(name, f"nested data does not match shape {full}: {where} has {len(node)} "
                        f"element(s), the shape needs {shape[0]}")
    for i, child in enumerate(node):
        if len(shape) == 1:
            if isinstance(child, list):
                raise bad(name, f"nested data is deeper than shape {full} at {where}[{i}]")
            out.append(child)
        elif not isinstance(child, list):
            raise bad(name, f"nested data does not match shape {full}: {where}[{i}] is "
                            f"{_kind(child)}, not a list")
        else:
            _unnest(name, child, shape[1:], full, f"{where}[{i}]", out)


def _fp32(name: str, index: int, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(name, f"element {index} is {_kind(value)}, not a number (datatype FP32)")
    if abs(value) > FP32_MAX and not math.isinf(value):
        raise bad(name, f"element {index} is outside the FP32 range")
    return float(value)


def _kind(value: Any) -> str:
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a number",
             dict: "an object", list: "a list", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _binary_elements(name: str, spec: TensorSpec, shape: tuple[int, ...], count: int,
                     blob: bytes) -> list[Any]:
    if spec.datatype == "FP32":
        if len(blob) != 4 * count:
            raise bad(name, f"shape {list(shape)} needs {4 * count} bytes of FP32 data, "
                            f"got {len(blob)}")
        values: list[Any] = np.frombuffer(blob, dtype="<f4").tolist()
        return values
    elements: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise bad(name, f"binary BYTES data is cut inside the length of element {len(elements)}")
        size = int.from_bytes(blob[offset:offset + 4], "little")
        offset += 4
        if offset + size > len(blob):
            raise bad(name, f"binary BYTES element {len(elements)} declares {size} bytes; "
                            f"{len(blob) - offset} are left")
        elements.append(blob[offset:offset + size])
        offset += size
    if len(elements) != count:
        raise bad(name, f"shape {list(shape)} needs {count} element(s), got {len(elements)}")
    return elements


def _unbase64(name: str, index: int, element: bytes) -> bytes:
    try:
        return base64.b64decode(element, validate=True)
    except (binascii.Error, ValueError):
        raise bad(name, f"element {index} is not valid base64") from None
