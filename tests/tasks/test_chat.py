"""The chat and completion tasks: input and parameter checks, sampling defaults from a tiny
causal LM's generation config and manifest, and the served built-in ``smollm2-135m-instruct``
over HTTP: answers, usage rows, streaming, a 422 for every bad request and a 4xx for hostile
GGUF uploads."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from aiaas.auth.principal import Principal
from aiaas.builtin import CHAT, ensure_builtins
from aiaas.calls import ModelCall
from aiaas.config import Settings
from aiaas.errors import Invalid
from aiaas.formats import detect
from aiaas.tasks.base import Limits
from aiaas.tasks.chat import ChatTask, CompletionTask
from tests.conftest import Api
from tests.registry.conftest import make_tar
from tests.runtime.tiny_models import build_causal_lm

CHAT_TASK = ChatTask()
COMPLETION_TASK = CompletionTask()
LIMITS = Limits(max_inputs=8, max_input_chars=200)
OK = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
URL = f"/api/v1/models/{CHAT}/predict"


# -- checks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "message"), [
    ("hello", "expected an object"),
    ({}, "'messages' must be a non-empty list"),
    ({"messages": []}, "'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": "Hi"}], "extra": 1}, "unknown field"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\] must be an object with exactly"),
    ({"messages": [{"role": "robot", "content": "Hi"}]}, r"messages\[0\]\.role must be one of"),
    ({"messages": [{"role": "user", "content": 3}]}, r"messages\[0\]\.content must be a string"),
    ({"messages": [{"role": "user", "content": "  "}]}, r"messages\[0\]\.content is empty"),
    ({"messages": [{"role": "user", "content": "x" * 201}]}, "longer than 200 characters"),
    ({"messages": [{"role": "user", "content": "x" * 150}] * 2}, "300 characters, more than 200"),
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
     r"last message \(messages\[1\]\) must be from the user"),
])
def test_bad_chat_items_name_the_input_and_message(item: Any, message: str) -> None:
    with pytest.raises(Invalid, match=r"^inputs\[1\]: .*" + message):
        CHAT_TASK.check([OK, item], {}, {}, LIMITS)


def test_completion_takes_a_string_or_a_prompt_object() -> None:
    items, _ = COMPLETION_TASK.check(["Once upon", {"prompt": "a time"}], None, {}, LIMITS)
    assert items == ["Once upon", "a time"]
    for bad in ({"text": "x"}, 5, ""):
        with pytest.raises(Invalid, match=r"^inputs\[0\]"):
            COMPLETION_TASK.check([bad], None, {}, LIMITS)


def test_parameters_get_defaults_and_bounds() -> None:
    _, params = CHAT_TASK.check([OK], None, {"max_tokens_limit": 64}, LIMITS)
    assert params == {"max_tokens": 64, "temperature": 1.0, "top_p": 1.0, "stop": [], "seed": None}
    _, params = CHAT_TASK.check([OK], {"stop": "END", "seed": 3, "n": 1, "top_p": 0.5}, {}, LIMITS)
    assert params["stop"] == ["END"] and params["seed"] == 3 and params["max_tokens"] == 256
    for bad, message in [({"max_tokens": 65}, "past the limit of 64"), ({"max_tokens": 0}, "positive"),
                         ({"max_tokens": True}, "positive"), ({"temperature": -0.1}, "between 0 and 2"),
                         ({"top_p": 0}, "greater than 0"), ({"stop": ["a"] * 5}, "at most 4"),
                         ({"stop": [""]}, "1 to 256"), ({"seed": "x"}, "64-bit"), ({"n": 2}, "must be 1"),
                         ({"temperature": float("nan")}, "number"), ({"beam": 2}, "unknown")]:
        with pytest.raises(Invalid, match=message):
            CHAT_TASK.check([OK], bad, {"max_tokens_limit": 64}, LIMITS)


def test_sampling_defaults_come_from_generation_config_then_the_manifest(tmp_path: Path) -> None:
    root = build_causal_lm(tmp_path / "lm")
    (root / "generation_config.json").write_text(json.dumps({"do_sample": True, "temperature": 0.6,
                                                             "top_p": 0.95}))
    assert CHAT_TASK.prepare_config(detect(root), root)["sampling_defaults"] == {
        "temperature": 0.6, "top_p": 0.95}
    (root / "aiaas.json").write_text(json.dumps({"sampling": {"temperature": 0.2}}))
    config = CHAT_TASK.prepare_config(detect(root), root)
    assert config["sampling_defaults"] == {"temperature": 0.2, "top_p": 0.95}
    _, params = CHAT_TASK.check([OK], None, config, LIMITS)
    assert (params["temperature"], params["top_p"]) == (0.2, 0.95)
    _, params = CHAT_TASK.check([OK], {"temperature": 0, "top_p": 1}, config, LIMITS)
    assert (params["temperature"], params["top_p"]) == (0, 1)
    (root / "generation_config.json").write_text(json.dumps({"do_sample": False, "temperature": 0.6}))
    (root / "aiaas.json").unlink()
    assert "sampling_defaults" not in CHAT_TASK.prepare_config(detect(root), root)
    (root / "aiaas.json").write_text(json.dumps({"sampling": {"temperature": 3}}))
    with pytest.raises(Invalid, match="temperature"):
        detect(root)


# -- over HTTP ------------------------------------------------------------------------------------

@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_models=False,
                    log_json=False, torch_threads=1)


@pytest.fixture
def chat_api(api: Api) -> Api:
    ensure_builtins(api.services.registry, only={CHAT})
    return api


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize(("body", "mentions"), [
    ({"inputs": [{}]}, "inputs[0]: 'messages' must be a non-empty list"),
    ({"inputs": [{"messages": []}]}, "'messages' must be a non-empty list"),
    ({"inputs": [{"messages": [{"role": "user", "content": "Hi"},
                               {"role": "assistant", "content": "Hello"}]}]}, "must be from the user"),
    ({"inputs": [{"messages": [{"role": "wizard", "content": "Hi"}]}]}, "messages[0].role must be one of"),
    ({"inputs": [user("Hi")], "parameters": {"max_tokens": 5000}}, "past the limit of 1024"),
    ({"inputs": [user("Hi")], "parameters": {"n": 2}}, "parameters.n must be 1"),
    ({"inputs": [user("Hi")], "parameters": {"temperature": 5}}, "between 0 and 2"),
], ids=["no-messages", "empty-messages", "last-not-user", "bad-role", "max-tokens", "n", "temperature"])
async def test_bad_chat_requests_get_422(chat_api: Api, body: dict[str, Any], mentions: str) -> None:
    response = await chat_api.client.post(URL, json=body, headers=chat_api.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and mentions in error["message"]


def hostile_ggufs() -> dict[str, bytes]:
    head = b"GGUF" + struct.pack("<I", 3)
    key = b"general.architecture"
    kv = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, 5) + b"llama"
    return {
        "huge-tensor-count": head + struct.pack("<QQ", 2**64 - 1, 1) + kv,
        "huge-string": head + struct.pack("<QQ", 0, 1) + struct.pack("<Q", 2**63) + b"x" * 64,
        "truncated-tensor": head + struct.pack("<QQ", 1, 1) + kv + struct.pack("<Q", 1) + b"w"
        + struct.pack("<IQQIQ", 2, 4096, 4096, 0, 0),
        "not-gguf": b"\x80\x04pickle?" + b"\0" * 32,
    }


@pytest.mark.parametrize("name", list(hostile_ggufs()))
async def test_hostile_gguf_uploads_are_refused_and_the_server_stays_up(api: Api, name: str) -> None:
    archive = make_tar([("evil/model.gguf", hostile_ggufs()[name]),
                        ("evil/aiaas.json", b'{"task": "chat"}')])
    response = await api.client.post("/api/v1/models/evil-chat/versions", content=archive,
                                     headers={**api.auth(), "Content-Type": "application/octet-stream"})
    assert response.status_code == 422, response.text
    assert "GGUF" in response.json()["error"]["message"]
    listed = await api.client.get("/api/v1/models", headers=api.auth())
    assert listed.status_code == 200
    assert "evil-chat" not in {model["name"] for model in listed.json()["models"]}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_served_chat_answers_streams_and_meters_tokens(chat_api: Api) -> None:
    api = chat_api
    body = {"inputs": [user("What is the capital of France?"), user("What is 2 + 2?")],
            "parameters": {"max_tokens": 32, "temperature": 0}}
    response = await api.client.post(URL, json=body, headers=api.auth())
    assert response.status_code == 200, response.text
    result = response.json()
    paris, four = result["outputs"]
    assert "Paris" in paris["text"] and paris["finish_reason"] == "stop"
    assert four["text"] and set(four) == {"text", "finish_reason"}
    assert result["usage"]["prompt_tokens"] > 20 and result["usage"]["completion_tokens"] > 2

    caller = Principal(tenant="default", key_id="streamer", scopes=frozenset({"predict"}))
    started = await api.services.calls.stream(ModelCall(
        caller, CHAT, inputs=[user("What is the capital of France?")],
        parameters={"max_tokens": 32, "temperature": 0}))
    streamed = [event async for event in started.events]
    assert "".join(e.text for e in streamed) == paris["text"]
    assert len(streamed) > 2 and streamed[-1].finish_reason == "stop"

    usage = await api.client.get("/api/v1/usage", params={"model": CHAT}, headers=api.auth())
    rows = usage.json()["records"]
    assert len(rows) == 2 and {row["status"] for row in rows} == {"ok"}
    units = [row["units"] for row in rows]
    assert sorted(u["completion_tokens"] for u in units) == sorted(
        [streamed[-1].completion_tokens, result["usage"]["completion_tokens"]])
    assert all(u["prompt_tokens"] > 10 for u in units)
