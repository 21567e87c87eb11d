"""OpenAPI docs behind a key. A browser cannot send a bearer header, so these two routes also
accept HTTP Basic auth with the key as the password: the browser prompts once, then resends it
for ``/openapi.json``."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import swagger_ui_bundle
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from aiaas.api.deps import ServicesDep
from aiaas.api.errors import error_body
from aiaas.errors import Unauthenticated

router = APIRouter(include_in_schema=False)
ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "favicon-32x32.png": "image/png"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="aiaas: user anything, password = your API key"'}


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


async def _authorised(request: Request, services: ServicesDep) -> JSONResponse | None:
    token = _token(request)
    if token is None:
        return JSONResponse(error_body("unauthenticated", "an API key is needed to read the docs"),
                            401, headers=_CHALLENGE)
    try:
        await run_in_threadpool(services.keys.authenticate, token)
    except Unauthenticated as exc:
        return JSONResponse(error_body(exc.code, exc.message), 401, headers=_CHALLENGE)
    return None


@router.get("/openapi.json")
async def openapi(request: Request, services: ServicesDep) -> JSONResponse:
    denied = await _authorised(request, services)
    return denied or JSONResponse(request.app.openapi())


@router.get("/docs")
async def swagger(request: Request, services: ServicesDep) -> HTMLResponse:
    denied = await _authorised(request, services)
    if denied is not None:
        return HTMLResponse(denied.body, status_code=401, headers=_CHALLENGE)
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title="aiaas API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


@router.get("/docs/assets/{name}")
async def swagger_asset(name: str, request: Request, services: ServicesDep) -> Response:
    """Swagger UI's files, served from the installed bundle: the docs work with no internet."""
    denied = await _authorised(request, services)
    if denied is not None:
        return denied
    if name not in ASSET_TYPES:
        return JSONResponse(error_body("not_found", f"no docs asset {name!r}"), 404)
    return FileResponse(ASSETS / name, media_type=ASSET_TYPES[name])
