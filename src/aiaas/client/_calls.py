"""Every API call, written once: what to send (a ``Call``) and how to read the answer (``parse``).

``Client`` and ``AsyncClient`` only differ in how they send a ``Call``; nothing here does I/O
except reading an upload's file in chunks, which each client drives in its own way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from aiaas.client._models import (
    ApiKey,
    Classification,
    CreatedKey,
    Health,
    Model,
    ModelVersion,
    Prediction,
    UsageReport,
    Whoami,
)

T = TypeVar("T")
U = TypeVar("U")
M = TypeVar("M", bound=BaseModel)

ProgressCallback = Callable[[int, int], object]
"""Called as ``progress(bytes_sent, total_bytes)`` while an upload streams."""

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
DEFAULT_CLASSIFIER = "breast-cancer-diagnosis"
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    """A file streamed as the request body in chunks, reporting progress as it goes."""

    path: Path
    size: int
    progress: ProgressCallback | None = None

    def chunks(self) -> Iterator[bytes]:
        sent = 0
        self._report(sent)
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
                sent += len(chunk)
                self._report(sent)

    async def achunks(self) -> AsyncIterator[bytes]:
        sent = 0
        self._report(sent)
        with self.path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
                sent += len(chunk)
                self._report(sent)

    def _report(self, sent: int) -> None:
        if self.progress is not None:
            self.progress(sent, self.size)


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

    def then(self, convert: Callable[[T], U]) -> Call[U]:
        """The same request, with ``convert`` applied to the parsed result."""
        parse = self.parse
        return Call(self.method, self.path, lambda response: convert(parse(response)), self.params,
                    self.json, self.upload, self.retryable)

    def headers(self) -> dict[str, str]:
        if self.upload is None:
            return {}
        return {"Content-Type": "application/octet-stream", "Content-Length": str(self.upload.size)}


def _one(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate_json(response.content)


def _many(cls: type[M], key: str) -> Callable[[httpx.Response], list[M]]:
    return lambda response: [cls.model_validate(item) for item in response.json()[key]]


def _nothing(response: httpx.Response) -> None:
    return None


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _model_path(name: str, *rest: str | int) -> str:
    return "/".join(["/api/v1/models", _segment(name), *(_segment(part) for part in rest)])


def _timestamp(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


def health() -> Call[Health]:
    return Call("GET", "/healthz", _one(Health))


def me() -> Call[Whoami]:
    return Call("GET", "/api/v1/me", _one(Whoami))


def list_models() -> Call[list[Model]]:
    return Call("GET", "/api/v1/models", _many(Model, "models"))


def get_model(name: str) -> Call[Model]:
    return Call("GET", _model_path(name), _one(Model))


def get_version(name: str, ref: int | str) -> Call[ModelVersion]:
    return Call("GET", _model_path(name, "versions", ref), _one(ModelVersion))


def upload_model(name: str, archive: Path, *, task: str | None, description: str | None,
                 progress: ProgressCallback | None) -> Call[ModelVersion]:
    params: dict[str, str | int | bool] = {}
    if task is not None:
        params["task"] = task
    if description is not None:
        params["description"] = description
    upload = Upload(archive, archive.stat().st_size, progress)
    return Call("POST", _model_path(name, "versions"), _one(ModelVersion), params=params,
                upload=upload, retryable=False)


def set_alias(name: str, alias: str, version: int) -> Call[Model]:
    return Call("PUT", _model_path(name, "aliases", alias), _one(Model), json={"version": version})


def delete_version(name: str, version: int) -> Call[None]:
    return Call("DELETE", _model_path(name, "versions", version), _nothing)


def delete_model(name: str) -> Call[None]:
    return Call("DELETE", _model_path(name), _nothing)


def predict(name: str, inputs: Sequence[Any], *, parameters: Mapping[str, Any] | None,
            version: int | str | None) -> Call[Prediction]:
    path = _model_path(name, "predict") if version is None else _model_path(
        name, "versions", version, "predict")
    body = {"inputs": list(inputs), "parameters": dict(parameters or {})}
    return Call("POST", path, _one(Prediction), json=body)


def embed(texts: str | Sequence[str], *, model: str) -> Call[list[list[float]]]:
    items = [texts] if isinstance(texts, str) else list(texts)
    return predict(model, items, parameters=None, version=None).then(
        lambda result: [[float(x) for x in output["embedding"]] for output in result.outputs])


def classify(records: Mapping[str, float] | Sequence[Mapping[str, float] | Sequence[float]], *,
             model: str) -> Call[list[Classification]]:
    items = [records] if isinstance(records, Mapping) else list(records)
    return predict(model, items, parameters=None, version=None).then(
        lambda result: [Classification.model_validate(output) for output in result.outputs])


def create_key(name: str, *, tenant: str | None, scopes: Sequence[str] | None, admin: bool,
               expires_at: datetime | None) -> Call[CreatedKey]:
    body: dict[str, Any] = {"name": name, "admin": admin}
    if tenant is not None:
        body["tenant"] = tenant
    if scopes is not None:
        body["scopes"] = list(scopes)
    if expires_at is not None:
        body["expires_at"] = expires_at.isoformat()
    return Call("POST", "/api/v1/keys", _one(CreatedKey), json=body, retryable=False)


def list_keys(*, tenant: str | None, include_revoked: bool) -> Call[list[ApiKey]]:
    params: dict[str, str | int | bool] = {"include_revoked": include_revoked}
    if tenant is not None:
        params["tenant"] = tenant
    return Call("GET", "/api/v1/keys", _many(ApiKey, "keys"), params=params)


def revoke_key(key_id: str) -> Call[ApiKey]:
    return Call("DELETE", f"/api/v1/keys/{_segment(key_id)}", _one(ApiKey))


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
    return Call("GET", "/api/v1/usage", _one(UsageReport), params=params)
