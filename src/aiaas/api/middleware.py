"""Pure ASGI middleware (no per-request task hops): request ids, body limits, access log, metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiaas.api.errors import error_body
from aiaas.errors import PayloadTooLarge
from aiaas.logs import request_id
from aiaas.metrics import Metrics

log = logging.getLogger("aiaas.access")
_UPLOAD_PATH = re.compile(r"^/api/v1/(models/[^/]+/versions|datasets)/?$")
_VALID_RID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContext:
    """Gives every request an id (kept from ``X-Request-ID`` when sane), enforces body limits,
    and records the access log line and HTTP metrics once the response has started."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body: int, max_upload: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = given if _VALID_RID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        is_upload = scope["method"] == "POST" and _UPLOAD_PATH.match(scope["path"])
        limit = self.max_upload if is_upload else self.max_body

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, rid, limit, v2=scope["path"].startswith("/v2/"))
            request_id.reset(token)
            self._observe(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes",
                                          details={"limit": limit})
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            self._observe(scope, status, started)
            request_id.reset(token)

    async def _reject(self, send: Send, rid: str, limit: int, *, v2: bool) -> None:
        """413 before the app runs; the Open Inference Protocol's error shape on ``/v2`` (the
        OpenAI surface reshapes its own in ``OpenAIErrorShape``)."""
        message = f"request body exceeds the limit of {limit} bytes"
        body = json.dumps({"error": message} if v2 else error_body(
            "payload_too_large", message, {"limit": limit})).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", rid.encode()), (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.http_requests.labels(method, template, str(status)).inc()
        self.metrics.http_latency.labels(method, template).observe(elapsed)
        log.info("%s %s %s", method, scope["path"], status, extra={
            "method": method, "path": scope["path"], "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        })
