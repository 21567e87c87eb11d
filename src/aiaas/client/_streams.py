"""Streamed chat answers: the server-sent events of ``/v1/chat/completions`` read as text deltas.

``ChatEvents`` turns the event lines into deltas and keeps what the stream said (no I/O);
``ChatStream`` and ``AsyncChatStream`` read those lines from an open response.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from aiaas.client._errors import AiaasAPIError, APIConnectionError, error_from_event, error_from_transport
from aiaas.client._models import ChatResult, ChatUsage


class ChatEvents:
    """What the event lines of one streamed chat answer said, fed one line at a time."""

    def __init__(self, model: str, request_id: str | None) -> None:
        self.model = model
        self.request_id = request_id
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: ChatUsage | None = None
        self.done = False

    def feed(self, line: str) -> str:
        """The text a line adds to the answer ('' for none). ``data: [DONE]`` sets ``done``; an
        error event raises its typed error."""
        if not line.startswith("data:"):
            return ""  # blank separators, comments and other fields
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            self.done = True
            return ""
        try:
            event = json.loads(data)
        except ValueError:
            raise AiaasAPIError(f"the server sent an event that is not JSON: {data[:200]!r}",
                                code="invalid_stream", request_id=self.request_id) from None
        if not isinstance(event, dict):
            return ""
        if isinstance(event.get("error"), dict):
            raise error_from_event(event["error"], self.request_id)
        if isinstance(event.get("usage"), dict):
            self.usage = ChatUsage.model_validate(event["usage"])
        text = ""
        for choice in event.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
            delta: Any = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(content, str) and content:
                self.parts.append(content)
                text += content
        return text

    def end(self) -> None:
        """Called when the body ends: a stream cut before ``[DONE]`` is an error."""
        if not self.done:
            raise APIConnectionError("the answer stream ended before it was complete")

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def result(self) -> ChatResult:
        return ChatResult(model=self.model, text=self.text, finish_reason=self.finish_reason,
                          usage=self.usage or ChatUsage())


class _Stream:
    """What both streams expose once iterated: the whole answer and how it ended."""

    _events: ChatEvents

    @property
    def text(self) -> str:
        """The answer so far (all of it once the iteration ended)."""
        return self._events.text

    @property
    def finish_reason(self) -> str | None:
        """``"stop"`` or ``"length"`` once complete; None before, or when closed early."""
        return self._events.finish_reason

    @property
    def usage(self) -> ChatUsage | None:
        """Prompt and answer tokens, sent by the server at the end of the stream."""
        return self._events.usage

    @property
    def completed(self) -> bool:
        """True once the server said the answer is complete."""
        return self._events.done


class ChatStream(_Stream):
    """A chat answer arriving as text deltas: iterate it (once) to get them as they come.

    Afterwards ``text``, ``finish_reason`` and ``usage`` hold the whole answer (``result()``
    bundles them, reading what is left first). ``close()``, or leaving a ``with`` block, before
    the end closes the connection, which stops the generation on the server.
    """

    def __init__(self, response: httpx.Response, events: ChatEvents, base_url: str) -> None:
        self._response = response
        self._events = events
        self._base_url = base_url
        self._deltas = self._read()

    def _read(self) -> Generator[str, None, None]:
        try:
            for line in self._response.iter_lines():
                if delta := self._events.feed(line):
                    yield delta
                if self._events.done:
                    break
            self._events.end()
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self._base_url) from exc
        finally:
            self._response.close()

    def __iter__(self) -> Iterator[str]:
        return self._deltas

    def result(self) -> ChatResult:
        """The whole answer (reads the rest of the stream first)."""
        for _ in self._deltas:
            pass
        return self._events.result()

    def close(self) -> None:
        """Stop reading; an unfinished answer stops being generated."""
        self._deltas.close()
        self._response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncChatStream(_Stream):
    """The asyncio twin of ``ChatStream``: ``async for``, ``await result()``, ``await aclose()``,
    ``async with``."""

    def __init__(self, response: httpx.Response, events: ChatEvents, base_url: str) -> None:
        self._response = response
        self._events = events
        self._base_url = base_url
        self._deltas = self._read()

    async def _read(self) -> AsyncGenerator[str, None]:
        try:
            async for line in self._response.aiter_lines():
                if delta := self._events.feed(line):
                    yield delta
                if self._events.done:
                    break
            self._events.end()
        except httpx.TransportError as exc:
            raise error_from_transport(exc, self._base_url) from exc
        finally:
            await self._response.aclose()

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas

    async def result(self) -> ChatResult:
        async for _ in self._deltas:
            pass
        return self._events.result()

    async def aclose(self) -> None:
        await self._deltas.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()
