"""Image classification: base64 PNG/JPEG/WebP images in; ``{"label", "score", "probabilities",
"top_k"}`` out (parameter ``top_k``, default 5).

An input item is a base64 string (a ``data:image/...;base64,`` prefix is allowed), an object
``{"image": base64}``, or raw ``bytes`` (what a multipart upload hands over). Each image is
decoded and checked here, before it is queued (``aiaas.tasks.images``), so a bad image is a
4xx naming ``inputs[i]`` and never fails a batch shared with other requests.

Served by transformers ``*ForImageClassification`` directories and by ONNX models whose first
input is a 4-D float image (NCHW or NHWC). For ONNX the input size, normalisation and labels
come from ``aiaas.json`` (``image_size``, ``image_mean``, ``image_std``, ``labels``), else from
the graph's fixed shapes and an Optimum-style ``preprocessor_config.json``/``config.json``, else
the defaults: 224x224, ImageNet mean and std, labels "0", "1", ...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, item_field
from aiaas.tasks.images import decode_image, image_bytes
from aiaas.tasks.text_classification import (
    check_top_k,
    classification_schema,
    transformers_labels,
)

if TYPE_CHECKING:
    from aiaas.formats import Detected

DEFAULT_TOP_K = 5
DEFAULT_SIZE = 224
MAX_SIDE = 4096
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
_BASE64 = {"type": "string", "contentEncoding": "base64",
           "description": "a PNG, JPEG or WebP image, base64-encoded"}


class ImageClassificationTask(Task):
    name = "image-classification"
    heavy_check = True

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        if detected.format == "onnx":
            return onnx_image_config(detected, source)
        return transformers_labels(detected, source, self.name)

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        wrapped = {"type": "object", "properties": {"image": _BASE64}, "required": ["image"],
                   "additionalProperties": False}
        return {"type": "array", "items": {"oneOf": [_BASE64, wrapped]}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return classification_schema(list(config.get("labels", [])))

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        where = item_field(index)
        max_pixels = limits.max_image_pixels
        return decode_image(image_bytes(item, where), max_pixels=max_pixels, where=where)

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {"top_k": check_top_k(parameters, self.name, DEFAULT_TOP_K)}


def onnx_image_config(detected: Detected, source: Path) -> dict[str, Any]:
    """What the ONNX image backend needs: input name/layout/size, mean, std, labels."""
    import onnx

    from aiaas.formats import read_json

    model_file = detected.config["model_file"]
    graph = onnx.load(str(source / model_file), load_external_data=False).graph
    if not graph.input:
        raise Invalid("the ONNX model has no input")
    tensor = graph.input[0].type.tensor_type
    dims = [int(d.dim_value) for d in tensor.shape.dim]
    if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4:
        raise Invalid("an ONNX image classifier takes one 4-D float32 image tensor (NCHW or NHWC) "
                      f"as its first input; this one takes a {len(dims)}-D tensor")
    layout = "NCHW" if dims[1] in (1, 3) else "NHWC"
    channels, graph_size = (dims[1], dims[2:4]) if layout == "NCHW" else (dims[3], dims[1:3])
    if channels not in (1, 3):
        raise Invalid(f"the ONNX image input has {channels} channels; 1 or 3 are served")
    extra = source / "preprocessor_config.json"
    processor = read_json(extra, extra.name) if extra.is_file() else {}
    processor = processor if isinstance(processor, dict) else {}
    manifest = detected.manifest
    size = _size(manifest.image_size, graph_size, processor)
    mean = _per_channel(manifest.image_mean or processor.get("image_mean") or IMAGENET_MEAN,
                        channels, "image_mean")
    std = _per_channel(manifest.image_std or processor.get("image_std") or IMAGENET_STD,
                       channels, "image_std")
    if any(value <= 0 for value in std):
        raise Invalid("image_std values must be positive")
    return {
        "model_file": model_file,
        "input_name": graph.input[0].name,
        "layout": layout,
        "channels": channels,
        "size": size,
        "mean": mean,
        "std": std,
        "batch": dims[0] if dims[0] > 0 else None,
        "labels": _onnx_labels(detected, source, graph),
    }


def _size(given: int | list[int] | None, graph_size: list[int], processor: dict[str, Any]) -> list[int]:
    """[height, width]: the manifest's, else the graph's fixed one, else the processor's, else 224."""
    if given is not None:
        size = [given, given] if isinstance(given, int) else list(given)
        if len(size) == 1:
            size = size * 2
        if len(size) != 2 or not all(1 <= side <= MAX_SIDE for side in size):
            raise Invalid(f"aiaas.json image_size must be a side or [height, width] from 1 to {MAX_SIDE}")
        fixed = [side for side in graph_size if side > 0]
        if len(fixed) == 2 and fixed != size:
            raise Invalid(f"aiaas.json image_size {size} differs from the model's input {fixed}")
        return size
    if all(side > 0 for side in graph_size):
        return list(graph_size)
    wanted = processor.get("crop_size") or processor.get("size")
    if isinstance(wanted, dict) and isinstance(wanted.get("height"), int) \
            and isinstance(wanted.get("width"), int):
        return _size([wanted["height"], wanted["width"]], graph_size, {})
    if isinstance(wanted, dict) and isinstance(wanted.get("shortest_edge"), int):
        return _size(wanted["shortest_edge"], graph_size, {})
    return [DEFAULT_SIZE, DEFAULT_SIZE]


def _per_channel(values: Any, channels: int, name: str) -> list[float]:
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise Invalid(f"{name} must be a list of numbers")
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise Invalid(f"{name} has {len(values)} values; the model's input has {channels} channels")
    return [float(v) for v in values]


def _onnx_labels(detected: Detected, source: Path, graph: Any) -> list[str]:
    from aiaas.formats.hf import hf_labels, read_hf_config

    outputs = graph.output[0].type.tensor_type.shape.dim if graph.output else []
    width = int(outputs[-1].dim_value) if len(outputs) == 2 else 0
    labels: list[str]
    if detected.manifest.labels:
        labels = [str(label) for label in detected.manifest.labels]
    elif (source / "config.json").is_file():
        labels = hf_labels(read_hf_config(source), [])
    elif width > 1:
        labels = [str(i) for i in range(width)]
    else:
        raise Invalid("cannot tell the class labels of the ONNX model: list them in aiaas.json")
    if width and len(labels) != width:
        raise Invalid(f"{len(labels)} labels are given; the model has {width} outputs")
    if len(set(labels)) != len(labels) or len(labels) < 2:
        raise Invalid("the class labels must be at least two and unique")
    return labels
