"""Connection-level bounds uvicorn lacks: header and body read deadlines, a header size bound and
a cap on the connections one client address may hold.

uvicorn's ``timeout_keep_alive`` only covers the idle time between requests and is reset by every
byte received, so a client trickling one header byte a second holds a connection (and its slot)
forever; ASGI middleware cannot help, it runs once the headers are parsed. This is a small
subclass of uvicorn's httptools protocol (the one ``[standard]`` installs) that adds:

- a header deadline (``header_timeout_s``) from connecting, or from a request's first byte on a
  kept-alive connection, to the end of its headers; then 408 and close;
- a body deadline (``body_timeout_s``), extended by one second per ``body_min_rate`` bytes
  received, as Apache's ``mod_reqtimeout`` does; not counted while the app is not reading (the
  protocol has paused reading); then 408 and close;
- ``max_header_bytes`` for the request line and headers (llhttp has no bound); then 431;
- ``max_connections_per_client`` open connections per client address; more are closed at once.

``aiaas serve`` passes ``uvicorn_options(settings)`` to ``uvicorn.run``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiaas.api.errors import error_body
from aiaas.config import Settings

log = logging.getLogger("aiaas.connections")


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    header_timeout_s: float
    body_timeout_s: float
    body_min_rate: int
    max_header_bytes: int
    max_connections_per_client: int

    @classmethod
    def of(cls, settings: Settings) -> EdgeLimits:
        return cls(settings.header_timeout_s, settings.body_timeout_s, settings.body_min_rate,
                   settings.max_header_bytes, settings.max_connections_per_client)


_REASONS = {408: b"Request Timeout", 429: b"Too Many Requests",
            431: b"Request Header Fields Too Large"}


def _raw_response(status: int, code: str, message: str) -> bytes:
    body = json.dumps(error_body(code, message)).encode()
    head = (f"HTTP/1.1 {status} ".encode() + _REASONS[status] + b"\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            + (b"retry-after: 1\r\n" if status == 429 else b"")
            + f"content-length: {len(body)}\r\n\r\n".encode())
    return head + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds above; ``limits`` and ``per_client`` are set
    per server by ``protocol_for``."""

    limits: ClassVar[EdgeLimits]
    per_client: ClassVar[Counter[str]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: str | None = None
        self._in_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_started = 0.0
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        cap = self.limits.max_connections_per_client
        if cap and self.per_client[address] >= cap:
            log.info("refused a connection from %s: it holds %d already", address, cap,
                     extra={"client": address, "limit": cap})
            self._close(429, "too_many_connections",
                        f"this client holds {cap} connections already")
            return
        self._address = address
        self.per_client[address] += 1
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._address is not None:
            self.per_client[self._address] -= 1
            if self.per_client[self._address] <= 0:
                del self.per_client[self._address]
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and self._header_bytes > self.limits.max_header_bytes \
                and not self.transport.is_closing():
            self._close(431, "headers_too_large", "the request line and headers exceed "
                        f"{self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers, self._header_bytes = True, 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        self._cancel_body_timer()
        self._body_started, self._body_bytes = time.monotonic(), 0
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_deadline)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._cancel_body_timer()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._cancel_body_timer()
        super().on_response_complete()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout_s,
                                                      self._header_deadline)

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            log.info("closed a connection from %s: no complete headers in %.0f s", self._address,
                     self.limits.header_timeout_s, extra={"client": self._address})
            self._close(408, "request_timeout", "the request headers took too long")

    def _body_deadline(self) -> None:
        """Close unless the app has paused reading (then the client is not at fault) or the
        bytes received since the body began earn more time."""
        self._body_timer = None
        if self.transport.is_closing():
            return
        limits = self.limits
        deadline = (self._body_started + limits.body_timeout_s
                    + self._body_bytes / limits.body_min_rate)
        left = deadline - time.monotonic()
        if self.flow.read_paused or left > 0:
            self._body_timer = self.loop.call_later(max(left, 1.0), self._body_deadline)
            return
        log.info("closed a connection from %s: request body too slow (%d bytes)", self._address,
                 self._body_bytes, extra={"client": self._address})
        if self.cycle is not None and not self.cycle.response_started:
            self._close(408, "request_timeout", "the request body took too long")
        else:
            self.transport.close()

    def _close(self, status: int, code: str, message: str) -> None:
        self.transport.write(_raw_response(status, code, message))
        self.transport.close()

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_body_timer()
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


def protocol_for(limits: EdgeLimits) -> type[BoundedHttpToolsProtocol]:
    """A protocol class for one server: its limits and its count of connections per address."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,),
                {"limits": limits, "per_client": Counter()})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` that apply these bounds."""
    return {"http": protocol_for(EdgeLimits.of(settings)),
            "h11_max_incomplete_event_size": settings.max_header_bytes}
