"""Wire models of the Open Inference Protocol (KServe V2 / Triton HTTP) as aiaas speaks it.

Requests are parsed strictly (unknown fields and non-integer shapes are a 400 naming the field);
responses are plain JSON shaped like the models here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from aiaas.errors import Invalid


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=256)
    shape: list[StrictInt] = Field(max_length=16)
    datatype: StrictStr = Field(max_length=16, examples=["BYTES", "FP32"])
    parameters: dict[str, Any] | None = Field(
        default=None, description='`{"content_type": "base64"}` for BYTES elements sent as base64;'
        ' `{"binary_data_size": n}` for data sent with the binary tensor extension.')
    data: Any = Field(default=None, description="Row-major; flat or nested to match `shape`.")


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=256)
    parameters: dict[str, Any] | None = Field(
        default=None, description='`{"binary_data": true}` returns this output as binary data.')


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "42",
        "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES",
                    "data": ["A man plays a guitar.", "The market fell."]}],
        "outputs": [{"name": "embedding"}],
    }]})

    id: StrictStr | None = Field(default=None, max_length=256)
    parameters: dict[str, Any] | None = Field(
        default=None, description="Passed to the model's task (e.g. `normalize` for embeddings),"
        " except `binary_data_output`, which returns every output as binary data.")
    inputs: list[RequestInput] = Field(min_length=1, max_length=64)
    outputs: list[RequestOutput] | None = Field(default=None, max_length=64)


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = Field(default=None, description="Flat, row-major; absent when the "
                                   "output is sent as binary data.")


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: list[ResponseOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1 marks a dimension of any size.")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2ErrorResponse(BaseModel):
    error: str = Field(examples=["input 'text': shape [3] needs 3 elements, got 2"])


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": V2ErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request: the message names the tensor or field",
        401: "Missing, unknown, revoked or expired API key", 403: "The key lacks the scope",
        404: "Unknown model or version (or another tenant's)",
        413: "Body or batch over a limit", 429: "Queue full: retry after Retry-After",
        503: "Temporarily unavailable: retry after Retry-After",
    }.items()
}


def parse_request(raw: bytes, *, framed: bool) -> InferenceRequest:
    """Parse the JSON part of an infer request; a malformed one is ``Invalid`` naming the field.
    ``framed``: the part was cut from a binary body by its Inference-Header-Content-Length."""
    try:
        return InferenceRequest.model_validate_json(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]
        if problem["type"] == "json_invalid":
            where = (f"the first {len(raw)} bytes of the body (Inference-Header-Content-Length)"
                     if framed else "the request body")
            raise Invalid(f"{where} is not valid JSON: {problem['msg']}") from None
        where = field_path(problem["loc"]) or "body"
        raise Invalid(f"{where}: {problem['msg']}", details={"field": where}) from None


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('inputs', 0, 'shape', 1)`` -> ``inputs[0].shape[1]``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined, for an ``openapi_extra`` request body."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined
