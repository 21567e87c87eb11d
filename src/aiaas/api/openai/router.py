"""The OpenAI-compatible routes under ``/v1``: HTTP only; the work is in ``serving``.

Every route needs ``Authorization: Bearer <aiaas key>`` (what the ``openai`` client sends as its
``api_key``) with the same scopes and tenant visibility as the native API. Errors use OpenAI's
shape (``errors.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.disconnect import CLIENT_CLOSED, unless_disconnected
from aiaas.api.openai import serving
from aiaas.api.openai.errors import OpenAIRoute
from aiaas.api.openai.protocol import (
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    EmbeddingResponse,
    OpenAIErrorResponse,
    OpenAIModel,
    OpenAIModelList,
    ResponseFormat,
    Transcription,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorResponse, "description": text}
    for status, text in {
        400: "Invalid request, named in `param`", 401: "Missing, unknown or revoked API key",
        403: "The key lacks the scope", 404: "No such model (or another tenant's)",
        413: "Body or upload over the limit", 429: "Queue full: retry after Retry-After",
        503: "Temporarily unavailable: retry after Retry-After",
    }.items()
}
router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute, responses=ERRORS)


class EventStream(StreamingResponse):
    """``text/event-stream`` whose iterator is closed however the response ends, so a client
    that goes away stops the generation at once."""

    media_type = "text/event-stream"

    def __init__(self, events: AsyncIterator[bytes],
                 generation: AsyncIterator[Any] | None = None) -> None:
        super().__init__(events, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.events = events
        self.generation = generation
        """Closed too: ``events`` may end before it has started reading the generation."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await serving.close(self.events)
            if self.generation is not None:
                await serving.close(self.generation)


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


@router.get("/models", response_model=OpenAIModelList)
async def list_models(principal: PrincipalDep, services: ServicesDep) -> Response:
    """Built-in models (`owned_by: aiaas`) and the caller's tenant's own."""
    return _json(await serving.list_models(services, principal))


@router.get("/models/{model}", response_model=OpenAIModel)
async def retrieve_model(model: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    return _json(await serving.get_model(services, principal, model))


@router.post("/embeddings", response_model=EmbeddingResponse)
async def embeddings(body: EmbeddingRequest, principal: PrincipalDep,
                     services: ServicesDep) -> Response:
    """Embed a string or a list of strings with an embedding model."""
    return _json(await serving.embeddings(services, principal, body))


async def _generate(request: Request, services: ServicesDep, principal: PrincipalDep, kind: str,
                    body: ChatCompletionRequest | CompletionRequest, item: Any,
                    parameters: dict[str, Any]) -> Response:
    generation = await unless_disconnected(request, serving.open_generation(
        services, principal, body.model, kind, item, parameters))  # the prefill: no token yet
    if generation is None:
        return Response(status_code=CLIENT_CLOSED)
    events = services.shutdown.bounded(generation)  # ends with an error at shutdown's deadline
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return EventStream(serving.event_stream(kind, body.model, events,
                                                include_usage=include_usage), generation)
    generated = await unless_disconnected(request, serving.collect(events))
    if generated is None:
        return Response(status_code=CLIENT_CLOSED)
    return _json(serving.completion_body(kind, body.model, generated))


@router.post("/chat/completions", response_model=ChatCompletion, responses={
    200: {"content": {"text/event-stream": {}},
          "description": "JSON, or server-sent `chat.completion.chunk` events when `stream` is true"},
})
async def chat_completions(request: Request, body: ChatCompletionRequest, principal: PrincipalDep,
                           services: ServicesDep) -> Response:
    """Chat with a chat model; `stream: true` sends server-sent events ending in `[DONE]`."""
    item, parameters = serving.chat_request(body)
    return await _generate(request, services, principal, serving.CHAT, body, item, parameters)


@router.post("/completions", response_model=Completion, responses={
    200: {"content": {"text/event-stream": {}},
          "description": "JSON, or server-sent `text_completion` events when `stream` is true"},
})
async def completions(request: Request, body: CompletionRequest, principal: PrincipalDep,
                      services: ServicesDep) -> Response:
    """Continue a prompt with a completion model."""
    item, parameters = serving.completion_request(body)
    return await _generate(request, services, principal, serving.COMPLETION, body, item,
                           parameters)


@router.post("/audio/transcriptions", response_model=Transcription, responses={
    200: {"content": {"text/plain": {}}, "description": "JSON, or text for text, srt and vtt"},
})
async def transcriptions(
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The audio (wav, mp3, flac, ogg, ...).")],
    model: Annotated[str, Form(min_length=1, max_length=200)],
    language: Annotated[str | None, Form(max_length=16)] = None,
    prompt: Annotated[str | None, Form(max_length=2000,
                                       description="Text that conditions the first window.")] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float | None, Form(ge=0, le=1)] = None,
    timestamp_granularities: Annotated[list[str] | None, Form(
        alias="timestamp_granularities[]",
        description="`segment` and/or `word` (word timestamps in `verbose_json`).")] = None,
) -> Response:
    """Transcribe an uploaded audio file (bounded by the server's body limit: 413 past it)."""
    audio = await file.read()
    result = await serving.transcribe(
        services, principal, model=model, audio=audio, language=language, prompt=prompt,
        temperature=temperature, response_format=response_format,
        granularities=timestamp_granularities or [],
    )
    if isinstance(result, str):
        media = "text/vtt" if response_format == "vtt" else "text/plain"
        return PlainTextResponse(result, media_type=media)
    return _json(result)
