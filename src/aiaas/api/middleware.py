"""Pure ASGI middleware (no per-request task hops): request ids, body limits, access log, metrics,
and the in-flight bound that refuses work cheaply under overload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiaas.api.disconnect import CLIENT_CLOSED
from aiaas.api.errors import error_body
from aiaas.errors import PayloadTooLarge
from aiaas.logs import client_address, request_id
from aiaas.metrics import Metrics

log = logging.getLogger("aiaas.access")
_UPLOAD_PATH = re.compile(r"^/api/v1/(models/[^/]+/versions|datasets)/?$")
_VALID_RID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class RequestContext:
    """Gives every request an id (kept from ``X-Request-ID`` when sane), enforces body limits,
    and records the access log line and HTTP metrics once the response has started.

    A client that leaves before its answer is complete is recorded as ``499``, one access log
    line and no traceback: whatever the app raised because the client left (Starlette's
    ``ClientDisconnect`` while reading the body, most often) is not a server error."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body: int, max_upload: int,
        on_request_end: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.on_request_end = on_request_end
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
        peer = scope.get("client")
        address = client_address.set(peer[0] if peer else None)
        started = time.perf_counter()
        status = 500
        is_upload = scope["method"] == "POST" and _UPLOAD_PATH.match(scope["path"])
        limit = self.max_upload if is_upload else self.max_body

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, rid, limit, v2=scope["path"].startswith("/v2/"))
            request_id.reset(token)
            client_address.reset(address)
            self._observe(scope, 413, started)
            return

        received = 0
        left = completed = False

        async def limited_receive() -> Message:
            nonlocal received, left
            message = await receive()
            if message["type"] == "http.disconnect":
                left = left or not completed
            elif message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes",
                                          details={"limit": limit})
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, completed
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode()),
                                      (b"x-content-type-options", b"nosniff")]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                completed = True
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        except Exception as exc:
            # Whatever fails once the client has gone (reading the rest of its body, most
            # often) fails because it went: no response can be sent, and it is not a bug.
            if not (left or (isinstance(exc, ClientDisconnect) and not completed)):
                raise
            left = True
        finally:
            self._observe(scope, CLIENT_CLOSED if left else status, started)
            request_id.reset(token)
            client_address.reset(address)
            if self.on_request_end is not None:
                self.on_request_end()

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


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class InFlightLimit:
    """At most ``limit`` model calls and writes in flight in this process. One past it waits,
    first come first served and before its body is read, up to ``wait_s`` for a slot; then it
    is refused with a 503 and ``Retry-After``, nothing parsed or authenticated.

    A burst is absorbed by the wait. Under sustained 2-4x overload each refusal costs a few
    microseconds of the event loop, and arrives no faster than one per ``wait_s`` per
    connection (a client that retries at once cannot turn the loop into a refusal loop), so the
    work admitted keeps the CPU and the answers per second hold. Reads (GET, HEAD; job event
    streams included) are not counted: they are cheap, and a stream may stay open for hours.
    """

    def __init__(self, app: ASGIApp, *, limit: int, wait_s: float = 1.0) -> None:
        self.app = app
        self.limit = limit
        self.wait_s = wait_s
        self.in_flight = 0
        self._waiting: deque[asyncio.Future[bool]] = deque()
        retry_after = max(1, round(wait_s))
        message = (f"the server is at its limit of {limit} requests in flight; "
                   f"retry after {retry_after} s")
        self._bodies = {
            v2: json.dumps({"error": message} if v2 else error_body(
                "unavailable", message, {"limit": limit})).encode() for v2 in (False, True)
        }
        self._retry_after = str(retry_after).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.limit or scope["method"] in _READS:
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            body = self._bodies[scope["path"].startswith("/v2/")]
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", self._retry_after),
            ]})
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _admit(self) -> bool:
        if self.in_flight < self.limit and not self._waiting:
            self.in_flight += 1
            return True
        if self.wait_s <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(waiter)
        timer = loop.call_later(self.wait_s, self._expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._release()  # handed a slot in the same tick as the cancellation
            else:
                self._forget(waiter)
            raise
        finally:
            timer.cancel()

    def _expire(self, waiter: asyncio.Future[bool]) -> None:
        if not waiter.done():
            waiter.set_result(False)
            self._forget(waiter)

    def _forget(self, waiter: asyncio.Future[bool]) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(waiter)

    def _release(self) -> None:
        """Hand the slot to the longest waiter, else free it."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self.in_flight -= 1
