"""``RateLimitHeaders``: the ``x-ratelimit-*`` headers OpenAI's clients read, on every answer
to a call that a rate limit applies to (429 refusals included).

Pure ASGI: it gives each request a fresh ``aiaas.limits.rate_state`` that the front door's
rate-limit check fills in (whatever the surface), and adds it to the response's first message.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiaas.limits import RateState, Window, rate_state


def duration(seconds: float) -> str:
    """OpenAI's spelling of a reset time: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{text}s" if minutes else f"{text}s"


def headers(state: RateState) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    windows: tuple[tuple[str, Window | None], ...] = (("requests", state.requests),
                                                      ("tokens", state.tokens))
    for kind, window in windows:
        if window is not None:
            pairs += [(f"x-ratelimit-limit-{kind}".encode(), str(window.limit).encode()),
                      (f"x-ratelimit-remaining-{kind}".encode(), str(window.remaining).encode()),
                      (f"x-ratelimit-reset-{kind}".encode(), duration(window.reset_s).encode())]
    return pairs


class RateLimitHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = RateState()
        token = rate_state.set(state)

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and (state.requests or state.tokens):
                message = {**message, "headers": [*message.get("headers", []), *headers(state)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_limits)
        finally:
            rate_state.reset(token)
