"""Response headers that lock the console's pages down (every HTML answer gets them).

The Content-Security-Policy allows scripts, styles and connections from this origin only: no
inline script or style, no framing, forms that post only here. Images may be ``data:``/``blob:``
(plots, image previews) and media ``blob:`` (the microphone recording played back)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; media-src 'self' blob:; font-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
ALWAYS = [(b"referrer-policy", b"same-origin")]
"""``nosniff`` is not here: ``RequestContext`` gives it to every response."""
HTML = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), geolocation=(), microphone=(self)"),
        (b"cache-control", b"no-store")]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = next((value for name, value in headers
                                     if name.lower() == b"content-type"), b"")
                extra = ALWAYS + (HTML if content_type.startswith(b"text/html") else [])
                headers += [(name, value) for name, value in extra if name not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
