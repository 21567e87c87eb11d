"""ONNX graphs: formats ``onnx-forecaster`` (a graph plus ``forecaster.json``) and ``onnx``
(a tabular model, or an image classifier when the first input is a 4-D float image).

The graph is parsed without its weights, and every external-data path (initializers, sparse
tensors, node attributes, subgraphs, functions) must stay inside the directory: onnxruntime
reads ``location`` wherever a tensor says EXTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats.files import escapes
from aiaas.formats.manifest import Detected, Manifest

FORMAT = "onnx"
FORECASTER_FORMAT = "onnx-forecaster"
FORECASTER_SPEC = "forecaster.json"


def _model_file(names: set[str]) -> str | None:
    """``model.onnx`` when present, else the first ``.onnx`` file, else ``None``."""
    onnx_files = sorted(n for n in names if n.endswith(".onnx"))
    if not onnx_files:
        return None
    return "model.onnx" if "model.onnx" in names else onnx_files[0]


def detect_onnx_forecaster(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    model_file = _model_file(names)
    if model_file is None or not (FORECASTER_SPEC in names or manifest.task == "forecasting"):
        return None
    check_onnx(root / model_file, root)
    return Detected(FORECASTER_FORMAT, "onnxruntime", ("forecasting",), manifest,
                    config={"model_file": model_file})


def detect_onnx(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    model_file = _model_file(names)
    if model_file is None:
        return None
    graph = check_onnx(root / model_file, root)
    image = manifest.task == "image-classification" or onnx_image_input(graph)
    return Detected(
        FORMAT,
        "onnxruntime",
        ("image-classification",) if image else ("tabular-classification", "tabular-regression"),
        manifest,
        config={"model_file": model_file},
    )


def _onnx_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph: initializers, sparse ones, node attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _onnx_attribute_tensors(node.attribute)


def _onnx_attribute_tensors(attributes: Any) -> Iterator[Any]:
    for attribute in attributes:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        if attribute.HasField("sparse_tensor"):
            yield attribute.sparse_tensor.values
            yield attribute.sparse_tensor.indices
        for sparse in attribute.sparse_tensors:
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _onnx_tensors(attribute.g)
        for subgraph in attribute.graphs:
            yield from _onnx_tensors(subgraph)


def onnx_image_input(model: Any) -> bool:
    """True when the first graph input is a 4-D float tensor with 1 or 3 channels (NCHW/NHWC)."""
    if not model.graph.input:
        return False
    tensor = model.graph.input[0].type.tensor_type
    dims = [d.dim_value for d in tensor.shape.dim]
    return tensor.elem_type == 1 and len(dims) == 4 and (dims[1] in (1, 3) or dims[3] in (1, 3))


def check_onnx(path: Path, root: Path) -> Any:
    """Parse the graph without loading weights and keep external-data paths inside ``root``;
    return the parsed model (without its external data)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise Invalid(f"{path.name} is not a valid ONNX model: {exc}") from exc
    tensors = list(_onnx_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_onnx_attribute_tensors(node.attribute))
    base = root.resolve()
    for tensor in tensors:
        # onnxruntime reads ``location`` whenever the tensor says EXTERNAL; look at every entry.
        for entry in tensor.external_data:
            if entry.key != "location":
                continue
            location = entry.value
            if escapes(location):
                raise UnsafeArtifact(
                    f"ONNX external data {location!r} points outside the model directory",
                    details={"file": path.name, "location": location},
                )
            target = (path.parent / location).resolve()
            if not target.is_relative_to(base):
                raise UnsafeArtifact(
                    f"ONNX external data {location!r} points outside the model directory",
                    details={"file": path.name, "location": location},
                )
            if not target.is_file():
                raise Invalid(
                    f"ONNX external data {location!r} is missing from the upload",
                    details={"file": path.name, "location": location},
                )
    return model
