"""The only code that differs between ``Client`` and ``AsyncClient``: sending a ``Call``.

``SyncSender`` and ``AsyncSender`` own the connection pool, send a call, retry transient
failures (``retry_delay``) and parse or raise. The methods of each area (``_registry``,
``_inference``, ``_jobs``, ``_datasets``) are mixins over one of the two.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Self, TypeVar

import httpx

from aiaas.client._calls import Call
from aiaas.client._errors import AiaasAPIError
from aiaas.client._transport import ClientSettings, request_options, result_of, retry_delay

T = TypeVar("T")


class SyncSender:
    """The blocking connection pool and the send loop behind ``Client``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 60.0, max_retries: int = 2) -> None:
        self._settings = ClientSettings.resolve(base_url, api_key, timeout, max_retries)
        self._http = httpx.Client(**self._settings.http_options())

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                body = call.upload.chunks() if call.upload else None
                return result_of(call, self._http.request(**request_options(call), content=body))
            except (httpx.TransportError, AiaasAPIError) as exc:
                time.sleep(retry_delay(self._settings, call, exc, attempt))
                attempt += 1

    def _open(self, call: Call[T]) -> tuple[T, httpx.Response]:
        """Like ``_send``, for a response whose body is read later, as it arrives."""
        attempt = 0
        while True:
            try:
                response = self._http.send(self._http.build_request(**request_options(call)), stream=True)
                try:
                    if response.is_error:
                        response.read()
                    return result_of(call, response), response
                except BaseException:
                    response.close()
                    raise
            except (httpx.TransportError, AiaasAPIError) as exc:
                time.sleep(retry_delay(self._settings, call, exc, attempt))
                attempt += 1

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncSender:
    """The asyncio connection pool and the send loop behind ``AsyncClient``."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 60.0, max_retries: int = 2) -> None:
        self._settings = ClientSettings.resolve(base_url, api_key, timeout, max_retries)
        self._http = httpx.AsyncClient(**self._settings.http_options())

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                body = call.upload.achunks() if call.upload else None
                return result_of(call, await self._http.request(**request_options(call), content=body))
            except (httpx.TransportError, AiaasAPIError) as exc:
                await asyncio.sleep(retry_delay(self._settings, call, exc, attempt))
                attempt += 1

    async def _open(self, call: Call[T]) -> tuple[T, httpx.Response]:
        attempt = 0
        while True:
            try:
                request = self._http.build_request(**request_options(call))
                response = await self._http.send(request, stream=True)
                try:
                    if response.is_error:
                        await response.aread()
                    return result_of(call, response), response
                except BaseException:
                    await response.aclose()
                    raise
            except (httpx.TransportError, AiaasAPIError) as exc:
                await asyncio.sleep(retry_delay(self._settings, call, exc, attempt))
                attempt += 1

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
