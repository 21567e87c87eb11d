"""Shared by the OpenAI surface tests: keys and ``openai`` clients for the live server, usage rows,
the OpenAI error shape, and in-process settings with a small body limit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aiaas.builtin import BUILTINS
from aiaas.config import Settings
from tests.conftest import LiveServer

CHAT_MODEL = "smollm2-135m-instruct"
SPEECH_MODEL = "whisper-tiny-en"
needs_chat = pytest.mark.skipif(
    CHAT_MODEL not in BUILTINS, reason=f"the built-in chat model {CHAT_MODEL} is not in aiaas.builtin yet")
needs_speech = pytest.mark.skipif(
    SPEECH_MODEL not in BUILTINS,
    reason=f"the built-in speech model {SPEECH_MODEL} is not in aiaas.builtin yet")
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


def new_key(server: LiveServer, tenant: str, scopes: list[str] | None = None) -> str:
    with server.client() as admin:
        response = admin.post("/api/v1/keys", json={"name": "openai-test", "tenant": tenant,
                                                    "scopes": scopes})
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def client_for(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def tenant_key(live_server: LiveServer) -> str:
    return new_key(live_server, f"oa-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def oai(live_server: LiveServer, tenant_key: str) -> Iterator[openai.OpenAI]:
    with client_for(live_server, tenant_key) as client:
        yield client


def usage_records(server: LiveServer, key: str, model: str) -> list[dict[str, Any]]:
    with server.client(key) as client:
        response = client.get("/api/v1/usage", params={"model": model})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def assert_openai_error(error: openai.APIStatusError, status: int, code: str | None = None,
                        param: str | None = None) -> dict[str, Any]:
    assert error.status_code == status
    body = error.response.json()
    assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_KEYS, body
    if code is not None:
        assert body["error"]["code"] == code, body
    if param is not None:
        assert body["error"]["param"] == param, body
    detail: dict[str, Any] = body["error"]
    return detail


QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


SMALL_BODY = 64 * 1024


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_models=False,
                    log_json=False, max_body_bytes=SMALL_BODY)


def assert_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == OPENAI_ERROR_KEYS, body
    error: dict[str, Any] = body["error"]
    return error
