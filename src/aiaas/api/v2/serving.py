"""The V2 surface over the service layer: tasks as tensors, and the calls behind each route.

Tensor conventions, per task (``-1`` is any size; the first dimension is the batch):

=========================  ===========================  =========================================
task                       input                        outputs
=========================  ===========================  =========================================
embedding                  ``text`` BYTES [-1]          ``embedding`` FP32 [-1, dim]
text-classification        ``text`` BYTES [-1]          ``label`` BYTES [-1],
                                                        ``probabilities`` FP32 [-1, n_labels]
image-classification       ``image`` BYTES [-1]         ``label``, ``probabilities`` (as above)
tabular-classification     ``input`` FP32 [-1, n_feat]  ``label``, ``probabilities`` (as above)
tabular-regression         ``input`` FP32 [-1, n_feat]  ``value`` FP32 [-1]
=========================  ===========================  =========================================

Features come in the version's ``feature_names`` order, probabilities in its ``labels`` order.
Images are the encoded file bytes (PNG, JPEG...): raw with the binary tensor extension, base64
with ``"content_type": "base64"`` in JSON. Other tasks have model metadata but no V2 inference.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from aiaas import __version__
from aiaas.api.v2.protocol import (
    InferenceRequest,
    ModelMetadata,
    ModelReady,
    RequestInput,
    ServerMetadata,
    parse_request,
)
from aiaas.api.v2.tensors import (
    OutputTensor,
    Tensor,
    TensorSpec,
    bad,
    binary_parts,
    decode,
    split_body,
)
from aiaas.auth.principal import Principal
from aiaas.calls import ModelCall
from aiaas.db import migrate
from aiaas.errors import BackendError, Invalid
from aiaas.logs import request_id
from aiaas.registry.records import VersionInfo
from aiaas.services import Services
from aiaas.tasks.base import item_field
from aiaas.tasks.outputs import Classification

EXTENSIONS = ["binary_tensor_data", "parameters"]
BINARY_OUTPUT = "binary_data_output"


class TaskTensors(ABC):
    """How one task's items and outputs travel as V2 tensors (one input tensor per task)."""

    @abstractmethod
    def input(self, version: VersionInfo) -> TensorSpec: ...

    @abstractmethod
    def outputs(self, version: VersionInfo) -> list[TensorSpec]: ...

    @abstractmethod
    def items(self, tensor: Tensor) -> list[Any]:
        """The task's items from the checked input tensor."""

    @abstractmethod
    def tensors(self, outputs: list[Any], version: VersionInfo) -> list[OutputTensor]:
        """The output tensors from the task's outputs (one per item)."""


class _TextInput(TaskTensors):
    def input(self, version: VersionInfo) -> TensorSpec:
        return TensorSpec("text", "BYTES", (-1,))

    def items(self, tensor: Tensor) -> list[Any]:
        texts = []
        for i, element in enumerate(tensor.values):
            try:
                texts.append(element.decode("utf-8"))
            except UnicodeDecodeError:
                raise bad(tensor.name, f"element {i} is not valid UTF-8 text") from None
        return texts


class _ImageInput(TaskTensors):
    def input(self, version: VersionInfo) -> TensorSpec:
        return TensorSpec("image", "BYTES", (-1,), raw_bytes=True)

    def items(self, tensor: Tensor) -> list[Any]:
        return [base64.b64encode(element).decode("ascii") for element in tensor.values]


class _TabularInput(TaskTensors):
    def input(self, version: VersionInfo) -> TensorSpec:
        return TensorSpec("input", "FP32", (-1, len(version.config.get("feature_names", [])) or -1))

    def items(self, tensor: Tensor) -> list[Any]:
        return tensor.rows()


def _labels(version: VersionInfo) -> list[str]:
    return [str(label) for label in version.labels or version.config.get("labels", [])]


class _Classification(TaskTensors):
    def outputs(self, version: VersionInfo) -> list[TensorSpec]:
        return [TensorSpec("label", "BYTES", (-1,)),
                TensorSpec("probabilities", "FP32", (-1, len(_labels(version)) or -1))]

    def tensors(self, outputs: list[Any], version: VersionInfo) -> list[OutputTensor]:
        classified: list[Classification] = outputs
        labels = _labels(version) or [str(label) for label in classified[0].probabilities]
        probabilities: list[float] = []
        for i, output in enumerate(classified):
            by_label = {str(label): p for label, p in output.probabilities.items()}
            missing = [label for label in labels if label not in by_label]
            if missing:
                raise BackendError(f"output {i} has no probability for label(s) {missing[:3]}")
            probabilities.extend(float(by_label[label]) for label in labels)
        count = len(classified)
        return [OutputTensor("label", "BYTES", [count], [str(o.label) for o in classified]),
                OutputTensor("probabilities", "FP32", [count, len(labels)], probabilities)]


class EmbeddingTensors(_TextInput):
    def outputs(self, version: VersionInfo) -> list[TensorSpec]:
        return [TensorSpec("embedding", "FP32", (-1, int(version.config.get("dimensions") or -1)))]

    def tensors(self, outputs: list[Any], version: VersionInfo) -> list[OutputTensor]:
        vectors = [output["embedding"] for output in outputs]
        width = len(vectors[0])
        if any(len(vector) != width for vector in vectors):
            raise BackendError("the model returned embeddings of different lengths")
        flat = [float(value) for vector in vectors for value in vector]
        return [OutputTensor("embedding", "FP32", [len(vectors), width], flat)]


class TextClassificationTensors(_TextInput, _Classification):
    pass


class ImageClassificationTensors(_ImageInput, _Classification):
    pass


class TabularClassificationTensors(_TabularInput, _Classification):
    pass


class TabularRegressionTensors(_TabularInput):
    def outputs(self, version: VersionInfo) -> list[TensorSpec]:
        return [TensorSpec("value", "FP32", (-1,))]

    def tensors(self, outputs: list[Any], version: VersionInfo) -> list[OutputTensor]:
        return [OutputTensor("value", "FP32", [len(outputs)], [float(o["value"]) for o in outputs])]


TASK_TENSORS: dict[str, TaskTensors] = {
    "embedding": EmbeddingTensors(),
    "text-classification": TextClassificationTensors(),
    "image-classification": ImageClassificationTensors(),
    "tabular-classification": TabularClassificationTensors(),
    "tabular-regression": TabularRegressionTensors(),
}


def tensors_for(version: VersionInfo) -> TaskTensors:
    """The mapping of the version's task, or ``Invalid`` when V2 does not serve it."""
    mapping = TASK_TENSORS.get(version.task)
    if mapping is None:
        raise Invalid(f"task {version.task} is not served over V2 (model {version.model!r}); "
                      f"use the native predict API", details={"task": version.task})
    return mapping


def platform(version: VersionInfo) -> str:
    """Triton-style ``<backend>_<format>`` (``onnxruntime_onnx``), or one word when they agree."""
    if version.framework == version.format:
        return version.framework
    return f"{version.framework}_{version.format}"


@dataclass(frozen=True, slots=True)
class InferOutcome:
    """The JSON part of an infer response, and the binary outputs that follow it in the body."""

    header: dict[str, Any]
    blobs: list[bytes]


class V2Serving:
    """The V2 calls, each a thin translation over the registry and the front door."""

    def __init__(self, services: Services) -> None:
        self.services = services

    @staticmethod
    def server_metadata() -> ServerMetadata:
        return ServerMetadata(name="aiaas", version=__version__, extensions=EXTENSIONS)

    async def server_ready(self) -> bool:
        """Ready when the database answers and its schema is at the latest migration."""
        try:
            return await asyncio.to_thread(migrate.is_current, self.services.db.engine)
        except Exception:
            return False

    async def model_metadata(self, principal: Principal, name: str,
                             ref: str | None) -> ModelMetadata:
        model, version = await asyncio.to_thread(self.services.registry.lookup, principal, name,
                                                 ref)
        mapping = TASK_TENSORS.get(version.task)
        return ModelMetadata.model_validate({
            "name": model.name,
            "versions": [str(v.version) for v in model.versions],
            "platform": platform(version),
            "inputs": [mapping.input(version).metadata()] if mapping else [],
            "outputs": [spec.metadata() for spec in mapping.outputs(version)] if mapping else [],
        })

    async def model_ready(self, principal: Principal, name: str, ref: str | None) -> ModelReady:
        """Ready when V2 serves its task and it fits the memory budget (it loads on first use)."""
        _, version = await asyncio.to_thread(self.services.registry.lookup, principal, name, ref)
        tensors_for(version)
        self.services.placement.check_fits(version)
        return ModelReady(name=version.model, ready=True)

    async def infer(self, principal: Principal, name: str, ref: str | None, body: bytes,
                    header_length: str | None) -> InferOutcome:
        json_part, tail = split_body(body, header_length)
        call = await self.services.calls.resolve(ModelCall(principal, name, ref, surface="v2"))
        version = call.version
        mapping = tensors_for(version)
        request = parse_request(json_part, framed=header_length is not None)
        parts = binary_parts(request.inputs, tail, framed=header_length is not None)
        spec = mapping.input(version)
        tensor, binary = _the_input(request.inputs, parts, spec, version.model)
        decoded = decode(tensor, spec, binary)
        if decoded.shape[0] == 0:
            raise bad(spec.name, f"the batch is empty (shape {list(decoded.shape)})")
        parameters = dict(request.parameters or {})
        binary_default = parameters.pop(BINARY_OUTPUT, False)
        if not isinstance(binary_default, bool):
            raise Invalid(f"parameters.{BINARY_OUTPUT} must be true or false")
        wanted = _requested(request, mapping.outputs(version), binary_default)
        try:
            result = await self.services.calls.predict(call.given(mapping.items(decoded),
                                                                  parameters))
        except Invalid as exc:
            renamed = _naming_tensor(exc, spec.name)
            if renamed is exc:
                raise
            raise renamed from exc
        header_outputs: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        for output in mapping.tensors(result.outputs, version):
            if output.name in wanted:
                entry, blob = output.encode(binary=wanted[output.name])
                header_outputs.append(entry)
                if blob is not None:
                    blobs.append(blob)
        return InferOutcome({
            "model_name": result.model,
            "model_version": str(result.version),
            "id": request.id if request.id is not None else request_id.get() or uuid.uuid4().hex,
            "outputs": header_outputs,
        }, blobs)


def _the_input(inputs: list[RequestInput], parts: list[bytes | None], spec: TensorSpec,
               model: str) -> tuple[RequestInput, bytes | None]:
    names = [tensor.name for tensor in inputs]
    for tensor_name in names:
        if tensor_name != spec.name:
            raise bad(tensor_name, f"model {model!r} has no such input; it takes {spec.name!r}")
    if len(names) > 1:
        raise bad(spec.name, "is given more than once")
    return inputs[0], parts[0]


def _requested(request: InferenceRequest, specs: list[TensorSpec],
               binary_default: bool) -> dict[str, bool]:
    """Output name -> sent as binary data. No ``outputs`` in the request means all of them."""
    known = [spec.name for spec in specs]
    if request.outputs is None:
        return dict.fromkeys(known, binary_default)
    wanted: dict[str, bool] = {}
    for output in request.outputs:
        if output.name not in known:
            raise Invalid(f"output {output.name!r}: the model has no such output; it gives "
                          f"{', '.join(known)}", details={"tensor": output.name})
        if output.name in wanted:
            raise Invalid(f"output {output.name!r} is requested more than once")
        parameters = dict(output.parameters or {})
        binary = parameters.pop("binary_data", binary_default)
        if parameters:
            raise Invalid(f"output {output.name!r}: unsupported parameter(s) "
                          f"{', '.join(sorted(parameters))}; known: binary_data")
        if not isinstance(binary, bool):
            raise Invalid(f"output {output.name!r}: binary_data must be true or false")
        wanted[output.name] = binary
    return wanted


def _naming_tensor(exc: Invalid, tensor: str) -> Invalid:
    """Say the task's errors about ``inputs`` in V2 terms, where the inputs are one tensor:
    ``input 'text': item i: <reason>`` for an item as a whole, ``input 'text': <message>`` for
    a part of an item or the whole list. Other errors are returned as they are."""
    if exc.index is None and exc.field != "inputs":
        return exc
    whole_item = (exc.index is not None and exc.field == item_field(exc.index)
                  and exc.naming == "prefix")
    message = f"item {exc.index}: {exc.reason}" if whole_item else exc.message
    return type(exc)(f"input {tensor!r}: {message}", index=exc.index, details={"tensor": tensor},
                     code=exc.code)
