"""Every API call, written once: what to send (a ``Call``) and how to read the answer (``parse``).

``Client`` and ``AsyncClient`` only differ in how they send a ``Call``; nothing here does I/O
except reading an upload's file in chunks, which each client drives in its own way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from aiaas.client._errors import AiaasAPIError
from aiaas.client._models import (
    ApiKey,
    ChatResult,
    ChatUsage,
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
from aiaas.client._streams import ChatEvents

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=BaseModel)

ProgressCallback = Callable[[int, int], object]
"""Called as ``progress(bytes_sent, total_bytes)`` while an upload streams."""

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
DEFAULT_CLASSIFIER = "breast-cancer-diagnosis"
CHUNK_BYTES = 1024 * 1024

Messages = str | Sequence[Mapping[str, str]]
"""A conversation: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]`` ending with
a user message; a lone string is one user message."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file streamed as the request body in chunks, reporting progress as it goes.

    ``prefix`` and ``suffix`` are sent around the file's bytes (a multipart envelope); ``size``
    is the whole body's length and ``progress(sent, size)`` counts every byte of it.
    """

    path: Path
    size: int
    progress: ProgressCallback | None = None
    prefix: bytes = b""
    suffix: bytes = b""
    content_type: str = "application/octet-stream"

    def chunks(self) -> Iterator[bytes]:
        sent = self._report(0)
        with self.path.open("rb") as handle:
            body = iter(lambda: handle.read(CHUNK_BYTES), b"")
            for chunk in itertools.chain([self.prefix], body, [self.suffix]):
                if chunk:
                    yield chunk
                    sent = self._report(sent + len(chunk))

    async def achunks(self) -> AsyncIterator[bytes]:
        sent = self._report(0)
        with self.path.open("rb") as handle:
            if self.prefix:
                yield self.prefix
                sent = self._report(sent + len(self.prefix))
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
                sent = self._report(sent + len(chunk))
            if self.suffix:
                yield self.suffix
                self._report(sent + len(self.suffix))

    def _report(self, sent: int) -> int:
        if self.progress is not None:
            self.progress(sent, self.size)
        return sent


@dataclass(frozen=True, slots=True)
class Media:
    """A file's bytes sent as one ``file`` part of a multipart predict (images, audio)."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Sampling:
    """How a chat model generates; None leaves the server's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | Sequence[str] | None = None
    seed: int | None = None

    def parameters(self) -> dict[str, Any]:
        values = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                  "top_p": self.top_p, "seed": self.seed,
                  "stop": self.stop if self.stop is None or isinstance(self.stop, str) else list(self.stop)}
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP exchange. ``retryable``: safe to send again after 429, 503 or a broken connection."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str | int | bool] = field(default_factory=dict)
    json: Any = None
    upload: Upload | None = None
    retryable: bool = True
    files: list[Media] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)
    accept: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    """Seconds per network operation, instead of the client's (None: the client's)."""

    def then(self, convert: Callable[[T], U]) -> Call[U]:
        """The same request, with ``convert`` applied to the parsed result."""
        parse = self.parse
        return Call(self.method, self.path, lambda response: convert(parse(response)), self.params,
                    self.json, self.upload, self.retryable, self.files, self.form, self.accept,
                    self.extra_headers, self.timeout)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": self.accept} if self.accept else {}
        if self.upload is not None:
            headers |= {"Content-Type": self.upload.content_type,
                        "Content-Length": str(self.upload.size)}
        return headers | self.extra_headers

    def multipart(self) -> dict[str, Any]:
        """``files``/``data`` arguments for httpx when the body is multipart, else nothing."""
        if not self.files:
            return {}
        return {"files": [("file", (media.name, media.data, media.content_type)) for media in self.files],
                "data": self.form}


def one(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate_json(response.content)


def many(cls: type[M], key: str) -> Callable[[httpx.Response], list[M]]:
    return lambda response: [cls.model_validate(item) for item in response.json()[key]]


def nothing(response: httpx.Response) -> None:
    return None


def segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _model_path(name: str, *rest: str | int) -> str:
    return "/".join(["/api/v1/models", segment(name), *(segment(part) for part in rest)])


def _timestamp(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def health() -> Call[Health]:
    return Call("GET", "/healthz", one(Health))


def me() -> Call[Whoami]:
    return Call("GET", "/api/v1/me", one(Whoami))


def list_models() -> Call[list[Model]]:
    return Call("GET", "/api/v1/models", many(Model, "models"))


def get_model(name: str) -> Call[Model]:
    return Call("GET", _model_path(name), one(Model))


def get_version(name: str, ref: int | str) -> Call[ModelVersion]:
    return Call("GET", _model_path(name, "versions", ref), one(ModelVersion))


def upload_model(name: str, archive: Path, *, task: str | None, description: str | None,
                 progress: ProgressCallback | None) -> Call[ModelVersion]:
    params: dict[str, str | int | bool] = {}
    if task is not None:
        params["task"] = task
    if description is not None:
        params["description"] = description
    upload = Upload(archive, archive.stat().st_size, progress)
    return Call("POST", _model_path(name, "versions"), one(ModelVersion), params=params,
                upload=upload, retryable=False)


def set_alias(name: str, alias: str, version: int) -> Call[Model]:
    return Call("PUT", _model_path(name, "aliases", alias), one(Model), json={"version": version})


def delete_version(name: str, version: int) -> Call[None]:
    return Call("DELETE", _model_path(name, "versions", version), nothing)


def delete_model(name: str) -> Call[None]:
    return Call("DELETE", _model_path(name), nothing)


def predict(name: str, inputs: Sequence[Any], *, parameters: Mapping[str, Any] | None,
            version: int | str | None) -> Call[Prediction]:
    path = _model_path(name, "predict") if version is None else _model_path(
        name, "versions", version, "predict")
    body = {"inputs": list(inputs), "parameters": dict(parameters or {})}
    return Call("POST", path, one(Prediction), json=body)


def outputs_with(result: Prediction, key: str, task: str) -> list[dict[str, Any]]:
    """The outputs, checked to be objects holding ``key``: what a ``task`` model returns."""
    outputs = result.outputs
    if not all(isinstance(output, dict) and key in output for output in outputs):
        raise AiaasAPIError(f"model {result.model!r} did not answer with {key!r}: it is not a {task} "
                            f"model", code="unexpected_output")
    return outputs


def embed(texts: str | Sequence[str], *, model: str) -> Call[list[list[float]]]:
    items = [texts] if isinstance(texts, str) else list(texts)
    return predict(model, items, parameters=None, version=None).then(
        lambda result: [[float(x) for x in output["embedding"]]
                        for output in outputs_with(result, "embedding", "embedding")])


def _items(value: Any, lone: tuple[type, ...]) -> list[Any]:
    return [value] if isinstance(value, lone) else list(value)


def classify(inputs: Any, *, model: str, top_k: int | None) -> Call[list[Classification]]:
    """Tabular records (mappings or value lists), texts, or images (``Media``, sent multipart);
    a lone record, text or image counts as one input. Images cannot be mixed with the rest."""
    items = _items(inputs, (Mapping, str, Media))
    parameters = {} if top_k is None else {"top_k": top_k}
    images = [item for item in items if isinstance(item, Media)]
    if not images:
        call = predict(model, items, parameters=parameters, version=None)
    elif len(images) == len(items):
        call = Call("POST", _model_path(model, "predict"), one(Prediction), files=images,
                    form={"parameters": json.dumps(parameters)})
    else:
        raise ValueError("classify: images cannot be sent together with records or texts")
    return call.then(lambda result: [Classification.model_validate(output)
                                     for output in outputs_with(result, "label", "classification")])


def chat_messages(messages: Messages) -> list[dict[str, str]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [{"role": str(message["role"]), "content": str(message["content"])} for message in messages]


def chat(model: str, messages: Messages, sampling: Sampling) -> Call[ChatResult]:
    """One answer through native predict (the item is ``{"messages": [...]}``); ``model`` is
    ``name`` or ``name:ref`` (a version number or alias), as on ``/v1/chat/completions``."""
    item = {"messages": chat_messages(messages)}

    def answer(result: Prediction) -> ChatResult:
        [output] = outputs_with(result, "text", "chat")
        return ChatResult(model=result.model, text=str(output["text"]),
                          finish_reason=output.get("finish_reason"),
                          usage=ChatUsage.of(result.usage.prompt_tokens, result.usage.completion_tokens))

    name, _, ref = model.partition(":")
    return predict(name, [item], parameters=sampling.parameters(), version=ref or None).then(answer)


def chat_stream(model: str, messages: Messages, sampling: Sampling) -> Call[ChatEvents]:
    """A streamed answer through ``/v1/chat/completions``; the parse only checks the headers:
    the events are read as they arrive (``ChatStream``). Sent again only on 429/503."""
    body = {"model": model, "messages": chat_messages(messages), "stream": True,
            "stream_options": {"include_usage": True}, **sampling.parameters()}
    return Call("POST", "/v1/chat/completions",
                lambda response: ChatEvents(model, response.headers.get("x-request-id")),
                json=body, accept="text/event-stream")


def transcribe(model: str, audio: Media, *, language: str | None, timestamps: bool,
               beam_size: int | None = None) -> Call[Transcription]:
    """The audio file uploaded as is (multipart), transcribed by a speech-recognition model."""
    parameters: dict[str, Any] = {"timestamps": timestamps}
    if language is not None:
        parameters["language"] = language
    if beam_size is not None:
        parameters["beam_size"] = beam_size
    call = Call("POST", _model_path(model, "predict"), one(Prediction), files=[audio],
                form={"parameters": json.dumps(parameters)})
    return call.then(lambda result: Transcription.model_validate(
        outputs_with(result, "segments", "speech-recognition")[0]))


def create_key(name: str, *, tenant: str | None, scopes: Sequence[str] | None, admin: bool,
               expires_at: datetime | None) -> Call[CreatedKey]:
    body: dict[str, Any] = {"name": name, "admin": admin}
    if tenant is not None:
        body["tenant"] = tenant
    if scopes is not None:
        body["scopes"] = list(scopes)
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    return Call("POST", "/api/v1/keys", one(CreatedKey), json=body, retryable=False)


def list_keys(*, tenant: str | None, include_revoked: bool) -> Call[list[ApiKey]]:
    params: dict[str, str | int | bool] = {"include_revoked": include_revoked}
    if tenant is not None:
        params["tenant"] = tenant
    return Call("GET", "/api/v1/keys", many(ApiKey, "keys"), params=params)


def revoke_key(key_id: str) -> Call[ApiKey]:
    return Call("DELETE", f"/api/v1/keys/{segment(key_id)}", one(ApiKey))


def usage(*, model: str | None, since: datetime | str | None, until: datetime | str | None,
          limit: int, tenant: str | None) -> Call[UsageReport]:
    params: dict[str, str | int | bool] = {"limit": limit}
    if model is not None:
        params["model"] = model
    if since is not None:
        params["since"] = _timestamp(since)
    if until is not None:
        params["until"] = _timestamp(until)
    if tenant is not None:
        params["tenant"] = tenant
    return Call("GET", "/api/v1/usage", one(UsageReport), params=params)
