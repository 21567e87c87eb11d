"""``Client`` and ``AsyncClient``: the same methods, sync and async, over one request layer.

Each method builds a ``Call`` (in ``_calls``) and hands it to ``_send``, the only place that
differs between the two: it sends, retries transient failures, and parses or raises.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from aiaas.client import _calls
from aiaas.client._calls import (
    DEFAULT_CLASSIFIER,
    DEFAULT_EMBEDDER,
    Call,
    Messages,
    ProgressCallback,
    Sampling,
)
from aiaas.client._errors import AiaasAPIError
from aiaas.client._models import (
    ApiKey,
    ChatResult,
    Classification,
    CreatedKey,
    Health,
    Model,
    ModelVersion,
    Prediction,
    Transcription,
    UsageReport,
    Whoami,
)
from aiaas.client._streams import AsyncChatStream, ChatStream
from aiaas.client._transport import (
    ClientSettings,
    MediaSource,
    prepare_archive,
    read_classify_inputs,
    read_media,
    request_options,
    result_of,
    retry_delay,
)

T = TypeVar("T")
Record = Mapping[str, float] | Sequence[float]
PathLike = str | os.PathLike[str]
ClassifyInput = Record | str | bytes | os.PathLike[str]
"""A tabular record, a text, or an image (``os.PathLike``, bytes or a binary file object)."""


class Client:
    """A blocking client for an aiaas server.

    ``base_url`` defaults to ``$AIAAS_URL`` (else ``http://127.0.0.1:8000``) and ``api_key`` to
    ``$AIAAS_API_KEY``. ``timeout`` is per network operation, in seconds. Calls that are safe to
    repeat (reads, deletes, alias moves and predict) are retried up to ``max_retries`` times on
    429, 503 and broken connections, waiting as ``Retry-After`` says. Failures raise
    ``AiaasAPIError`` subclasses. Use as a context manager, or call ``close()``.
    """

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

    def health(self) -> Health:
        """``/healthz``; needs no API key."""
        return self._send(_calls.health())

    def me(self) -> Whoami:
        """The tenant, key id and scopes of the API key in use."""
        return self._send(_calls.me())

    def list_models(self) -> list[Model]:
        """The built-in models and the tenant's own."""
        return self._send(_calls.list_models())

    def get_model(self, name: str) -> Model:
        return self._send(_calls.get_model(name))

    def get_version(self, name: str, ref: int | str) -> ModelVersion:
        """A version by number or by alias (``"production"``, ``"latest"``)."""
        return self._send(_calls.get_version(name, ref))

    def upload_model(self, name: str, path: PathLike, *, task: str | None = None,
                     description: str | None = None,
                     progress: ProgressCallback | None = None) -> ModelVersion:
        """Register the next version of ``name`` from a model directory or an archive file.

        A directory is packed into a temporary .tar.gz first; a .tar.gz/.tar/.zip is sent as is.
        The body is streamed; ``progress(bytes_sent, total)`` follows it. ``task`` is detected
        by the server when omitted. Never retried (it is not idempotent).
        """
        archive = prepare_archive(path)
        try:
            return self._send(_calls.upload_model(name, archive.path, task=task,
                                                  description=description, progress=progress))
        finally:
            archive.cleanup()

    def set_alias(self, name: str, alias: str, version: int) -> Model:
        """Point ``alias`` at ``version``; predict without a version uses ``production``."""
        return self._send(_calls.set_alias(name, alias, version))

    def delete_version(self, name: str, version: int) -> None:
        """Raises ``ConflictError`` while an alias points at the version."""
        self._send(_calls.delete_version(name, version))

    def delete_model(self, name: str) -> None:
        """Delete the model with all its versions."""
        self._send(_calls.delete_model(name))

    def predict(self, name: str, inputs: Sequence[Any], *,
                parameters: Mapping[str, Any] | None = None,
                version: int | str | None = None) -> Prediction:
        """Run ``inputs`` (one entry per item) through the model's ``production`` version (or the
        latest), or through ``version`` (a number or an alias)."""
        return self._send(_calls.predict(name, inputs, parameters=parameters, version=version))

    def embed(self, texts: str | Sequence[str], *, model: str = DEFAULT_EMBEDDER) -> list[list[float]]:
        """One embedding per text (a lone string counts as one text)."""
        return self._send(_calls.embed(texts, model=model))

    def classify(self, inputs: ClassifyInput | Sequence[ClassifyInput], *,
                 model: str = DEFAULT_CLASSIFIER, top_k: int | None = None) -> list[Classification]:
        """Classify tabular records (feature name -> number mappings, or value lists in feature
        order), texts (``str``), or images (paths as ``os.PathLike``, bytes or binary file
        objects, uploaded as multipart). A lone record, text or image is one input. ``top_k``:
        how many best labels text and image models list (tabular models take no parameters)."""
        return self._send(_calls.classify(read_classify_inputs(inputs), model=model, top_k=top_k))

    def chat(self, model: str, messages: Messages, *, max_tokens: int | None = None,
             temperature: float | None = None, top_p: float | None = None,
             stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatResult:
        """One answer from a chat model to ``messages`` (``[{"role", "content"}, ...]`` ending
        with the user's; a lone string is one user message). Pass the whole history each turn.
        ``model`` may name a version: ``"name:2"``, ``"name:production"``.
        ``temperature=0`` answers deterministically; ``seed`` fixes sampling otherwise."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        return self._send(_calls.chat(model, messages, sampling))

    def chat_stream(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                    temperature: float | None = None, top_p: float | None = None,
                    stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatStream:
        """Like ``chat``, but the answer arrives as text deltas: iterate the returned
        ``ChatStream``; then read ``.text``, ``.finish_reason`` and ``.usage``. Errors before the
        first token raise here. Use ``with`` (or ``close()``) to stop early."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        events, response = self._open(_calls.chat_stream(model, messages, sampling))
        return ChatStream(response, events, self.base_url)

    def transcribe(self, model: str, audio: MediaSource, *, language: str | None = None,
                   timestamps: bool = False) -> Transcription:
        """Transcribe an audio file (WAV, FLAC, MP3, Ogg): a path, its bytes or a binary file
        object, uploaded as is. ``language``: a code such as ``"en"`` (default: detected or the
        model's only one); ``timestamps`` adds per-word times to each segment."""
        return self._send(_calls.transcribe(model, read_media(audio, "audio"), language=language,
                                            timestamps=timestamps))

    def create_key(self, name: str, *, tenant: str | None = None, scopes: Sequence[str] | None = None,
                   admin: bool = False, expires_at: datetime | None = None) -> CreatedKey:
        """Admin only. ``tenant`` defaults to the caller's; the secret is returned this once."""
        return self._send(_calls.create_key(name, tenant=tenant, scopes=scopes, admin=admin,
                                            expires_at=expires_at))

    def list_keys(self, *, tenant: str | None = None, include_revoked: bool = False) -> list[ApiKey]:
        """Admin only."""
        return self._send(_calls.list_keys(tenant=tenant, include_revoked=include_revoked))

    def revoke_key(self, key_id: str) -> ApiKey:
        """Admin only; the key gets 401 from the next request on."""
        return self._send(_calls.revoke_key(key_id))

    def usage(self, *, model: str | None = None, since: datetime | str | None = None,
              until: datetime | str | None = None, limit: int = 100,
              tenant: str | None = None) -> UsageReport:
        """The tenant's usage, newest first. ``since``/``until`` need a timezone; another
        ``tenant`` needs an admin key."""
        return self._send(_calls.usage(model=model, since=since, until=until, limit=limit,
                                       tenant=tenant))


class AsyncClient:
    """The asyncio twin of ``Client``: same arguments, same methods, awaitable."""

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

    async def health(self) -> Health:
        return await self._send(_calls.health())

    async def me(self) -> Whoami:
        return await self._send(_calls.me())

    async def list_models(self) -> list[Model]:
        return await self._send(_calls.list_models())

    async def get_model(self, name: str) -> Model:
        return await self._send(_calls.get_model(name))

    async def get_version(self, name: str, ref: int | str) -> ModelVersion:
        return await self._send(_calls.get_version(name, ref))

    async def upload_model(self, name: str, path: PathLike, *, task: str | None = None,
                           description: str | None = None,
                           progress: ProgressCallback | None = None) -> ModelVersion:
        """See ``Client.upload_model``; packing a directory runs in a worker thread."""
        archive = await asyncio.to_thread(prepare_archive, path)
        try:
            return await self._send(_calls.upload_model(
                name, archive.path, task=task, description=description, progress=progress))
        finally:
            archive.cleanup()

    async def set_alias(self, name: str, alias: str, version: int) -> Model:
        return await self._send(_calls.set_alias(name, alias, version))

    async def delete_version(self, name: str, version: int) -> None:
        await self._send(_calls.delete_version(name, version))

    async def delete_model(self, name: str) -> None:
        await self._send(_calls.delete_model(name))

    async def predict(self, name: str, inputs: Sequence[Any], *,
                      parameters: Mapping[str, Any] | None = None,
                      version: int | str | None = None) -> Prediction:
        return await self._send(_calls.predict(name, inputs, parameters=parameters, version=version))

    async def embed(self, texts: str | Sequence[str], *,
                    model: str = DEFAULT_EMBEDDER) -> list[list[float]]:
        return await self._send(_calls.embed(texts, model=model))

    async def classify(self, inputs: ClassifyInput | Sequence[ClassifyInput], *,
                       model: str = DEFAULT_CLASSIFIER, top_k: int | None = None) -> list[Classification]:
        """See ``Client.classify``; image files are read in a worker thread."""
        items = await asyncio.to_thread(read_classify_inputs, inputs)
        return await self._send(_calls.classify(items, model=model, top_k=top_k))

    async def chat(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                   temperature: float | None = None, top_p: float | None = None,
                   stop: str | Sequence[str] | None = None, seed: int | None = None) -> ChatResult:
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        return await self._send(_calls.chat(model, messages, sampling))

    async def chat_stream(self, model: str, messages: Messages, *, max_tokens: int | None = None,
                          temperature: float | None = None, top_p: float | None = None,
                          stop: str | Sequence[str] | None = None,
                          seed: int | None = None) -> AsyncChatStream:
        """See ``Client.chat_stream``: ``stream = await client.chat_stream(...)``, then
        ``async for delta in stream``."""
        sampling = Sampling(max_tokens, temperature, top_p, stop, seed)
        events, response = await self._open(_calls.chat_stream(model, messages, sampling))
        return AsyncChatStream(response, events, self.base_url)

    async def transcribe(self, model: str, audio: MediaSource, *, language: str | None = None,
                         timestamps: bool = False) -> Transcription:
        """See ``Client.transcribe``; the file is read in a worker thread."""
        media = await asyncio.to_thread(read_media, audio, "audio")
        return await self._send(_calls.transcribe(model, media, language=language,
                                                  timestamps=timestamps))

    async def create_key(self, name: str, *, tenant: str | None = None,
                         scopes: Sequence[str] | None = None, admin: bool = False,
                         expires_at: datetime | None = None) -> CreatedKey:
        return await self._send(_calls.create_key(name, tenant=tenant, scopes=scopes, admin=admin,
                                                  expires_at=expires_at))

    async def list_keys(self, *, tenant: str | None = None,
                        include_revoked: bool = False) -> list[ApiKey]:
        return await self._send(_calls.list_keys(tenant=tenant, include_revoked=include_revoked))

    async def revoke_key(self, key_id: str) -> ApiKey:
        return await self._send(_calls.revoke_key(key_id))

    async def usage(self, *, model: str | None = None, since: datetime | str | None = None,
                    until: datetime | str | None = None, limit: int = 100,
                    tenant: str | None = None) -> UsageReport:
        return await self._send(_calls.usage(model=model, since=since, until=until, limit=limit,
                                             tenant=tenant))
