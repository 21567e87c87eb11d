"""Native predict: ``POST /api/v1/models/{name}[/versions/{ref}]/predict``.

The body is JSON (``{"inputs": [...], "parameters": {...}}``) or, for images and audio,
``multipart/form-data`` with one ``file`` part per input and an optional ``parameters`` part
holding JSON. File parts reach the task as raw bytes (tasks that take files accept bytes as well
as the base64 strings JSON callers send).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import ORJSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.disconnect import CLIENT_CLOSED, unless_disconnected
from aiaas.api.schemas import ERRORS, PredictRequest, PredictResponse
from aiaas.calls import ModelCall
from aiaas.errors import Invalid

router = APIRouter(prefix="/api/v1/models", tags=["predict"], responses=ERRORS)

BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": PredictRequest.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "One part per input (images, audio)."},
        "parameters": {"type": "string", "description": "JSON object of parameters."},
    }, "required": ["file"]}},
}}}


async def read_body(request: Request) -> PredictRequest:
    """Parse a JSON or multipart predict body into a ``PredictRequest`` (4xx naming the field)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await _read_multipart(request)
    try:
        return PredictRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


async def _read_multipart(request: Request) -> PredictRequest:
    """The parts are read into memory and the form closed (its spooled files with it)."""
    async with request.form() as form:
        files = [part for key, part in form.multi_items()
                 if key in {"file", "files"} and isinstance(part, UploadFile)]
        if not files:
            raise Invalid("a multipart predict needs at least one 'file' part",
                          details={"field": "file"})
        inputs: list[Any] = [await part.read() for part in files]
        raw = form.get("parameters")
    try:
        parameters: Any = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError as exc:
        raise Invalid(f"'parameters' is not valid JSON: {exc}",
                      details={"field": "parameters"}) from None
    if not isinstance(parameters, dict):
        raise Invalid("'parameters' must be a JSON object", details={"field": "parameters"})
    return PredictRequest(inputs=inputs, parameters=parameters)


async def _predict(services: ServicesDep, principal: PrincipalDep, name: str,
                   request: Request, ref: str | None) -> Response:
    body = await read_body(request)
    result = await unless_disconnected(request, services.calls.predict(
        ModelCall(principal, name, ref, inputs=body.inputs, parameters=body.parameters)))
    if result is None:  # the client left: its generations were cancelled
        return Response(status_code=CLIENT_CLOSED)
    return ORJSONResponse({"model": result.model, "version": result.version,
                           "outputs": result.outputs, "usage": result.usage, **result.notes})


@router.post("/{name}/predict", response_model=PredictResponse, openapi_extra=BODY)
async def predict(name: str, request: Request, principal: PrincipalDep,
                  services: ServicesDep) -> Response:
    """Run the ``production`` version (or the latest when no alias is set)."""
    return await _predict(services, principal, name, request, None)


@router.post("/{name}/versions/{ref}/predict", response_model=PredictResponse,
             openapi_extra=BODY)
async def predict_version(name: str, ref: str, request: Request, principal: PrincipalDep,
                          services: ServicesDep) -> Response:
    """Run one version, by number or alias."""
    return await _predict(services, principal, name, request, ref)
