"""Open Inference Protocol (KServe V2 / Triton HTTP) routes under ``/v2``: HTTP only.

``/v2/health/live`` and ``/v2/health/ready`` answer without a key (like ``/healthz``); every other
route needs ``Authorization: Bearer <key>``. Errors on ``/v2`` paths are ``{"error": "message"}``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiaas import errors
from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.errors import status_for, validation_details
from aiaas.api.v2.protocol import (
    ERRORS,
    InferenceRequest,
    InferenceResponse,
    ModelMetadata,
    ModelReady,
    ServerMetadata,
    inline_schema,
)
from aiaas.api.v2.serving import InferOutcome, V2Serving
from aiaas.api.v2.tensors import HEADER_LENGTH

log = logging.getLogger("aiaas.api.v2")
PREFIX = "/v2"
Handler = Callable[[Request, Any], Response | Awaitable[Response]]

router = APIRouter(prefix=PREFIX, tags=["v2 (Open Inference Protocol)"], responses=ERRORS)


async def get_serving(services: ServicesDep) -> V2Serving:
    return V2Serving(services)


ServingDep = Annotated[V2Serving, Depends(get_serving)]
INFER_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": inline_schema(InferenceRequest)},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary", "description":
        f"Binary tensor data extension: JSON header of {HEADER_LENGTH} bytes, then tensor bytes."}},
}}}


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """The process is up (no key needed)."""
    return {"live": True}


@router.get("/health/ready", responses={503: {"description": "Not ready"}})
async def ready(serving: ServingDep) -> JSONResponse:
    """Ready when the database answers at the latest schema (no key needed); 503 otherwise."""
    ok = await serving.server_ready()
    return JSONResponse({"ready": ok}, status_code=200 if ok else 503)


@router.get("", response_model=ServerMetadata)
async def server_metadata(principal: PrincipalDep, serving: ServingDep) -> ServerMetadata:
    """Server name, version and the protocol extensions it supports."""
    return serving.server_metadata()


@router.get("/models/{name}", response_model=ModelMetadata)
async def model_metadata(name: str, principal: PrincipalDep, serving: ServingDep) -> ModelMetadata:
    """The ``production`` version's tensors (the latest when no alias is set)."""
    return await serving.model_metadata(principal, name, None)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata)
async def version_metadata(name: str, version: str, principal: PrincipalDep,
                           serving: ServingDep) -> ModelMetadata:
    """One version's tensors, by number or alias."""
    return await serving.model_metadata(principal, name, version)


@router.get("/models/{name}/ready", response_model=ModelReady)
async def model_ready(name: str, principal: PrincipalDep, serving: ServingDep) -> ModelReady:
    """200 when the model can serve V2 inference (it loads on first use), 4xx/503 otherwise."""
    return await serving.model_ready(principal, name, None)


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady)
async def version_ready(name: str, version: str, principal: PrincipalDep,
                        serving: ServingDep) -> ModelReady:
    return await serving.model_ready(principal, name, version)


@router.post("/models/{name}/infer", openapi_extra=INFER_BODY,
             responses={200: {"model": InferenceResponse}})
async def infer(name: str, request: Request, principal: PrincipalDep,
                serving: ServingDep) -> Response:
    """Run the ``production`` version (the latest when no alias is set) on JSON or binary tensors."""
    return _respond(await serving.infer(principal, name, None, await request.body(),
                                        request.headers.get(HEADER_LENGTH)))


@router.post("/models/{name}/versions/{version}/infer", openapi_extra=INFER_BODY,
             responses={200: {"model": InferenceResponse}})
async def infer_version(name: str, version: str, request: Request, principal: PrincipalDep,
                        serving: ServingDep) -> Response:
    """Run one version, by number or alias."""
    return _respond(await serving.infer(principal, name, version, await request.body(),
                                        request.headers.get(HEADER_LENGTH)))


def _respond(outcome: InferOutcome) -> Response:
    header = orjson.dumps(outcome.header)
    if not outcome.blobs:
        return Response(header, media_type="application/json")
    return Response(header + b"".join(outcome.blobs), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(header))})


def error_response(request: Request, exc: Exception) -> JSONResponse:
    """Any error as the V2 shape. Invalid input is 400 (V2 has no 422)."""
    headers: dict[str, str] = {}
    if isinstance(exc, errors.AiaasError):
        status = status_for(exc)
        status = 400 if status == 422 else status
        message = exc.message
        if isinstance(exc, errors.Overloaded):
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if status >= 500 and not isinstance(exc, errors.Unavailable):
            log.error("server error on %s: %s", request.url.path, message)
    elif isinstance(exc, RequestValidationError):
        status, message = 400, validation_details(exc)[0]
    elif isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if status == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        headers.update(exc.headers or {})
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path,
                      exc_info=exc)
        status, message = 500, "internal server error; the request id is in the logs"
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": message}, status, headers=headers)


def install_errors(app: FastAPI) -> None:
    """Answer errors on ``/v2`` paths in the V2 shape; other paths keep the handlers installed
    before (call after ``aiaas.api.errors.install``)."""
    for exc_class in (errors.AiaasError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_class, _scoped(app.exception_handlers[exc_class]))


def _scoped(native: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handler(request: Request, exc: Any) -> Response:
        path = request.url.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return error_response(request, exc)
        response = native(request, exc)
        return await response if inspect.isawaitable(response) else response

    return handler
