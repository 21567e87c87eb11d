"""OpenAPI docs behind a key. A browser cannot send a bearer header, so these two routes also
accept HTTP Basic auth with the key as the password: the browser prompts once, then resends it
for ``/openapi.json``; a browser signed in to the console is let in by its session cookie.

Every docs response carries a strict Content-Security-Policy (the page may run only Swagger UI's
bundle and its own inline script, by hash, and fetch only this origin), refuses framing and sends
no referrer; ``X-Content-Type-Options: nosniff`` comes with every response (``RequestContext``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from functools import cache

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from aiaas.api.console import session
from aiaas.api.console.render import HERE
from aiaas.api.deps import ServicesDep
from aiaas.api.errors import error_body
from aiaas.errors import Unauthenticated

router = APIRouter(include_in_schema=False)
ASSETS = HERE / "static/vendor/swagger-ui-dist-5.36.0"
"""Swagger UI 5 (it reads OpenAPI 3.1), vendored like the console's libraries."""
ASSET_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
               "favicon-32x32.png": "image/png"}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="aiaas: user anything, password = your API key"'}
_SECURITY = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
             "Cache-Control": "no-store"}
_STRICT = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def _secured(response: Response, csp: str = _STRICT) -> Response:
    response.headers.update({**_SECURITY, "Content-Security-Policy": csp})
    return response


@cache
def _page() -> tuple[bytes, str]:
    """The Swagger UI page and the policy that lets exactly its inline script run."""
    html = get_swagger_ui_html(
        openapi_url="/openapi.json", title="aiaas API",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    ).body
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(bytes(html).decode()))
    csp = (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
           "form-action 'none'")
    return bytes(html), csp


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


async def _authorised(request: Request, services: ServicesDep) -> Response | None:
    token = _token(request)
    session_token = request.cookies.get(session.COOKIE)
    if token is None and session_token:  # signed in to the console: its footer links here
        try:
            await run_in_threadpool(services.sessions.resolve, session_token)
            return None
        except Unauthenticated:
            pass
    if token is None:
        return _secured(JSONResponse(error_body(
            "unauthenticated", "an API key is needed to read the docs"), 401, headers=_CHALLENGE))
    try:
        await run_in_threadpool(services.keys.authenticate, token)
    except Unauthenticated as exc:
        return _secured(JSONResponse(error_body(exc.code, exc.message), 401, headers=_CHALLENGE))
    return None


@router.get("/openapi.json")
async def openapi(request: Request, services: ServicesDep) -> Response:
    denied = await _authorised(request, services)
    return denied or _secured(JSONResponse(request.app.openapi()))


@router.get("/docs")
async def swagger(request: Request, services: ServicesDep) -> Response:
    denied = await _authorised(request, services)
    if denied is not None:
        return _secured(HTMLResponse(denied.body, status_code=401, headers=_CHALLENGE))
    html, csp = _page()
    return _secured(HTMLResponse(html), csp)


@router.get("/docs/assets/{name}")
async def swagger_asset(name: str, request: Request, services: ServicesDep) -> Response:
    """Swagger UI's files, served from the vendored copy: the docs work with no internet."""
    denied = await _authorised(request, services)
    if denied is not None:
        return denied
    if name not in ASSET_TYPES:
        return _secured(JSONResponse(error_body("not_found", f"no docs asset {name!r}"), 404))
    return _secured(FileResponse(ASSETS / name, media_type=ASSET_TYPES[name]))
