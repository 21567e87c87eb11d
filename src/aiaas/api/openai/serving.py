"""Translation between OpenAI requests/responses and the service layer.

Every model call goes through the front door, ``services.calls`` (``resolve`` once, then
``predict`` / ``stream``, which admit the call, check inputs against its task, run it on a
replica and write the one usage row, with surface ``openai``); model listings read
``services.registry``. Nothing here loads a model or reads a key. A model is named ``name`` or
``name:ref`` (a version number or alias).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import numpy as np

from aiaas.api.openai.errors import domain_content, error_content
from aiaas.api.openai.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    ResponseFormat,
)
from aiaas.api.openai.transcripts import format_transcript
from aiaas.auth.principal import BUILTIN_TENANT, Principal
from aiaas.calls import ModelCall, ResolvedCall
from aiaas.errors import AiaasError, Invalid, WrongTask
from aiaas.registry.service import ModelInfo
from aiaas.services import Services
from aiaas.tasks.base import StreamEvent

log = logging.getLogger("aiaas.api.openai")
CHAT, COMPLETION, EMBEDDING, SPEECH = "chat", "completion", "embedding", "speech-recognition"
ROUTE_OF = {CHAT: "/v1/chat/completions", COMPLETION: "/v1/completions",
            EMBEDDING: "/v1/embeddings", SPEECH: "/v1/audio/transcriptions"}
MAX_STOP = 4


def split_model(model: str) -> tuple[str, str | None]:
    name, sep, ref = model.partition(":")
    return name, (ref if sep else None)


def model_card(info: ModelInfo, model_id: str | None = None) -> dict[str, Any]:
    created = info.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return {"id": model_id or info.name, "object": "model", "created": int(created.timestamp()),
            "owned_by": "aiaas" if info.tenant == BUILTIN_TENANT else info.tenant}


async def list_models(services: Services, principal: Principal) -> dict[str, Any]:
    models = await asyncio.to_thread(services.registry.list_models, principal)
    return {"object": "list", "data": [model_card(m) for m in models]}


async def get_model(services: Services, principal: Principal, model: str) -> dict[str, Any]:
    name, ref = split_model(model)
    info = await asyncio.to_thread(services.registry.get_model, principal, name)
    if ref is not None:
        await asyncio.to_thread(services.registry.get_version, principal, name, ref)
    return model_card(info, model)


async def resolve(services: Services, principal: Principal, model: str,
                  task: str) -> ResolvedCall:
    """The call ``model`` names, resolved by the front door and checked to serve ``task`` (a
    400 naming the right route)."""
    name, ref = split_model(model)
    try:
        return await services.calls.resolve(ModelCall(principal, name, ref, surface="openai",
                                                      task=task))
    except WrongTask as exc:
        hint = f"; use {ROUTE_OF[exc.served]}" if exc.served in ROUTE_OF else ""
        raise Invalid(f"model {model!r} serves {exc.served}, not {task}{hint}",
                      details={"field": "model"}) from None


@contextmanager
def fields_renamed(renames: Sequence[tuple[str, str]]) -> Iterator[None]:
    """Say the task's errors with the request's field names: each ``(old, new)`` renames a
    field that starts with ``old`` (the first that matches), e.g. ``inputs[0]`` -> ``input``;
    a field renamed to nothing leaves a message that is the bare reason, with ``param`` null.
    The error keeps its field, reason and item as data (``Invalid.renamed``)."""
    try:
        yield
    except Invalid as exc:
        if exc.field is None:
            raise
        raise exc.renamed(_rename(exc.field, renames).lstrip(".") or None) from exc


def _rename(field: str, renames: Sequence[tuple[str, str]]) -> str:
    for old, new in renames:
        if field.startswith(old):
            return new + field[len(old):]
    return field


def _not_supported(name: str, message: str) -> Invalid:
    return Invalid.at(name, message)


# -- embeddings ------------------------------------------------------------------------------

def embedding_inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    if isinstance(value, list) and value and all(
        isinstance(item, int) or (isinstance(item, list) and all(isinstance(i, int) for i in item))
        for item in value
    ):
        raise _not_supported("input", "token-id arrays are not supported; send strings")
    raise Invalid.at("input", "expected a string or a list of strings")


async def embeddings(services: Services, principal: Principal,
                     body: EmbeddingRequest) -> dict[str, Any]:
    texts = embedding_inputs(body.input)
    call = await resolve(services, principal, body.model, EMBEDDING)
    dimensions = call.version.config.get("dimensions")
    if body.dimensions is not None and dimensions and body.dimensions != dimensions:
        raise _not_supported("dimensions", f"model {body.model!r} has {dimensions} dimensions; "
                             f"other sizes are not supported")
    single = isinstance(body.input, str)
    with fields_renamed([("inputs[0]", "input")] if single else [("inputs", "input")]):
        result = await services.calls.predict(call.given(texts))
    data = []
    for index, output in enumerate(result.outputs):
        vector = output["embedding"]
        if body.dimensions is not None and len(vector) != body.dimensions:
            raise _not_supported("dimensions", f"model {body.model!r} has {len(vector)} "
                                 "dimensions; other sizes are not supported")
        encoded: Any = vector
        if body.encoding_format == "base64":
            encoded = base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = result.units.prompt_tokens
    return {"object": "list", "data": data, "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}, **result.notes}


# -- generation: request checks ----------------------------------------------------------------

def _message_text(content: Any, index: int) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for number, part in enumerate(content):
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise _not_supported(f"messages[{index}].content[{number}]",
                                 "only text parts ({\"type\": \"text\", \"text\": ...}) are supported")
        texts.append(part["text"])
    return "\n".join(texts)


def _sampling(body: ChatCompletionRequest | CompletionRequest, max_tokens: int | None
              ) -> dict[str, Any]:
    if body.n not in (None, 1):
        raise _not_supported("n", "only n=1 is supported")
    for name in ("frequency_penalty", "presence_penalty"):
        if getattr(body, name) not in (None, 0):
            raise _not_supported(name, "only 0 is supported")
    if body.logit_bias:
        raise _not_supported("logit_bias", "not supported")
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and len(stop) > MAX_STOP:
        raise _not_supported("stop", f"at most {MAX_STOP} stop sequences")
    values = {"max_tokens": max_tokens, "temperature": body.temperature, "top_p": body.top_p,
              "stop": stop or None, "seed": body.seed}
    return {name: value for name, value in values.items() if value is not None}


def chat_request(body: ChatCompletionRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat task's item and parameters for an OpenAI chat request."""
    if body.logprobs or body.top_logprobs:
        raise _not_supported("logprobs", "not supported")
    if body.tools or body.tool_choice not in (None, "none"):
        raise _not_supported("tools", "tool calls are not supported")
    if body.response_format is not None and body.response_format.get("type") != "text":
        raise _not_supported("response_format", 'only {"type": "text"} is supported')
    messages = [
        {"role": "system" if m.role == "developer" else m.role,
         "content": _message_text(m.content, i)}
        for i, m in enumerate(body.messages)
    ]
    max_tokens = body.max_completion_tokens or body.max_tokens
    return {"messages": messages}, _sampling(body, max_tokens)


def completion_request(body: CompletionRequest) -> tuple[str, dict[str, Any]]:
    """The completion task's item (the prompt string) and parameters."""
    prompt = body.prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        if isinstance(prompt, list) and prompt and all(isinstance(p, int | list) for p in prompt):
            raise _not_supported("prompt", "token-id prompts are not supported; send a string")
        raise Invalid.at("prompt", "expected a string or a list holding one string")
    for name, value, allowed in (("echo", body.echo, (None, False)),
                                 ("suffix", body.suffix, (None, "")),
                                 ("logprobs", body.logprobs, (None,)),
                                 ("best_of", body.best_of, (None, 1))):
        if value not in allowed:
            raise _not_supported(name, "not supported")
    return prompt, _sampling(body, body.max_tokens)


# -- generation: running -----------------------------------------------------------------------

GENERATION_RENAMES = [("inputs[0].", ""), ("inputs[0]", ""), ("parameters.", ""),
                      ("parameters", "")]


async def open_generation(services: Services, principal: Principal, model: str, task: str,
                          item: Any, parameters: dict[str, Any]
                          ) -> AsyncIterator[StreamEvent]:
    """Start one generation; errors before the first token are raised here."""
    call = await resolve(services, principal, model, task)
    with fields_renamed(GENERATION_RENAMES):
        started = await services.calls.stream(call.given([item], parameters))
    return started.events


async def close(events: AsyncIterator[Any]) -> None:
    """Stop a generation (or its event stream) early, which frees its sequence; a no-op once
    it has finished."""
    if isinstance(events, AsyncGenerator):
        await events.aclose()


@dataclass
class Generated:
    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


async def collect(events: AsyncIterator[StreamEvent]) -> Generated:
    parts: list[str] = []
    last = StreamEvent()
    try:
        async for event in events:
            parts.append(event.text)
            last = event
    finally:
        await close(events)
    return Generated("".join(parts), last.finish_reason, last.prompt_tokens, last.completion_tokens)


def new_id(kind: str) -> str:
    return f"{'chatcmpl' if kind == CHAT else 'cmpl'}-{uuid.uuid4().hex}"


def completion_body(kind: str, model: str, generated: Generated) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": generated.finish_reason}
    if kind == CHAT:
        choice["message"] = {"role": "assistant", "content": generated.text}
    else:
        choice |= {"text": generated.text, "logprobs": None}
    return {"id": new_id(kind), "object": "chat.completion" if kind == CHAT else "text_completion",
            "created": int(time.time()), "model": model, "choices": [choice],
            "usage": generated.usage()}


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def event_stream(kind: str, model: str, events: AsyncIterator[StreamEvent], *,
                       include_usage: bool) -> AsyncIterator[bytes]:
    """Server-sent events for a started generation: chunks, then (with ``include_usage``) a
    usage chunk, then ``[DONE]``. An error mid-stream is sent as an error event before
    ``[DONE]``. Closing this iterator (client gone) closes ``events``, which stops generating."""
    base: dict[str, Any] = {"id": new_id(kind), "created": int(time.time()), "model": model,
                            "object": "chat.completion.chunk" if kind == CHAT else "text_completion"}
    if include_usage:
        base["usage"] = None

    def chunk(text: str | None, finish_reason: str | None, role: bool = False) -> bytes:
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason}
        if kind == CHAT:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            choice["delta"] = delta | ({"content": text} if text is not None else {})
        else:
            choice |= {"text": text or "", "logprobs": None}
        return _sse({**base, "choices": [choice]})

    last = StreamEvent()
    failure: dict[str, Any] | None = None
    try:
        if kind == CHAT:
            yield chunk("", None, role=True)
        async for event in events:
            last = event
            if event.text:
                yield chunk(event.text, None)
        yield chunk(None, last.finish_reason or "stop")
        if include_usage:
            usage = Generated("", None, last.prompt_tokens, last.completion_tokens).usage()
            yield _sse({**base, "choices": [], "usage": usage})
    except AiaasError as exc:
        failure = domain_content(exc)[1]
    except Exception:
        log.exception("generation failed mid-stream")
        failure = error_content(500, "generation failed; the request id is in the logs",
                                code="internal_error")
    finally:
        await close(events)
    if failure is not None:
        yield _sse(failure)
    yield b"data: [DONE]\n\n"


# -- audio -------------------------------------------------------------------------------------

async def transcribe(services: Services, principal: Principal, *, model: str, audio: bytes,
                     response_format: ResponseFormat, granularities: list[str],
                     language: str | None = None, prompt: str | None = None,
                     temperature: float | None = None) -> dict[str, Any] | str:
    """Transcribe ``audio`` (the uploaded file's bytes); a dict for the JSON formats, else text.
    Word timestamps (``timestamp_granularities[]=word``) come back in ``verbose_json``."""
    unknown = set(granularities) - {"segment", "word"}
    if unknown:
        raise _not_supported("timestamp_granularities[]", "use 'segment' and/or 'word'")
    if not audio:
        raise Invalid.at("file", "the uploaded file is empty")
    call = await resolve(services, principal, model, SPEECH)
    values = {"language": language, "prompt": prompt, "temperature": temperature,
              "timestamps": True if "word" in granularities else None}
    parameters = {name: value for name, value in values.items() if value is not None}
    with fields_renamed([("inputs[0].audio", "file"), ("inputs[0]", "file"), ("parameters.", ""),
                         ("parameters", "")]):
        result = await services.calls.predict(call.given([audio], parameters))
    return format_transcript(result.outputs[0], response_format)
