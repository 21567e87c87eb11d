"""Fair generation over real HTTP against the live server and the built-in SmolLM2 chat model:
a request's prompts bounded in tokens (a 4xx naming the item, before any model work), a client
that leaves cancels its generation mid-prefill on every surface (native predict, /v1 chat and
completions, streamed and not), and the running and waiting generations in ``/metrics`` and
``/api/v1/runtime``.

The long prompt takes tens of seconds to prefill on a CPU; the tests count prefill passes and
read usage rows rather than timing anything."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.api.openai.conftest import CHAT_MODEL, needs_chat, new_key, usage_records
from tests.conftest import LiveServer

pytestmark = needs_chat
LONG = "The ferry timetable lists every crossing between the two harbours. " * 290
"""About 3,800 tokens within the 20,000 characters an item may hold: about 24 prefill passes
at the default step budget (256 tokens of work a step, weighed by depth)."""
DIGITS = "0123456789" * 1500
"""15,000 characters, a token per digit: past the model's 8,192-token context."""


def generation(server: LiveServer) -> dict[str, int]:
    with server.client() as admin:
        response = admin.get("/api/v1/runtime")
    assert response.status_code == 200, response.text
    for replica in response.json()["loaded"]:
        if replica["model"] == CHAT_MODEL:
            state: dict[str, int] = replica["generation"]
            return state
    return {"running": 0, "prefilling": 0, "waiting": 0, "prefill_chunks": 0}


def gauge(server: LiveServer, name: str) -> float:
    with server.client() as admin:
        text = admin.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + "{") and f'model="{CHAT_MODEL}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for(condition: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def send_and_leave(server: LiveServer, key: str, path: str, body: dict[str, Any]) -> None:
    """POST ``body`` on a raw connection, wait until the model is prefilling it, then close the
    connection without reading an answer (what a client cut at 8 s does)."""
    address = urlparse(server.url)
    payload = json.dumps(body).encode()
    before = generation(server)["prefill_chunks"]
    with socket.create_connection((address.hostname, address.port)) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload)
        wait_for(lambda: generation(server)["prefill_chunks"] >= before + 2)
        assert generation(server)["running"] == 1
        assert gauge(server, "aiaas_generations_running") == 1
        at_leave = generation(server)["prefill_chunks"]
    wait_for(lambda: generation(server)["running"] == 0, 60)
    after = generation(server)["prefill_chunks"]
    # The whole prompt needs about 24 passes; one in flight and one more at most while the
    # server notices the closed connection.
    assert after - at_leave <= 4, f"{after - before} prefill passes: it went on after the client left"


SURFACES: dict[str, tuple[str, dict[str, Any]]] = {
    "native": ("/api/v1/models/{model}/predict",
               {"inputs": [{"messages": [{"role": "user", "content": LONG}]}],
                "parameters": {"max_tokens": 1}}),
    "chat": ("/v1/chat/completions",
             {"model": "{model}", "messages": [{"role": "user", "content": LONG}],
              "max_tokens": 1}),
    "chat-stream": ("/v1/chat/completions",
                    {"model": "{model}", "messages": [{"role": "user", "content": LONG}],
                     "max_tokens": 1, "stream": True}),
    "completion-stream": ("/v1/completions",
                          {"model": "{model}", "prompt": LONG, "max_tokens": 1, "stream": True}),
}


@pytest.mark.parametrize("surface", list(SURFACES))
def test_a_client_that_leaves_cancels_its_prefill(live_server: LiveServer, surface: str) -> None:
    key = new_key(live_server, f"fair-{uuid.uuid4().hex[:8]}")
    path, body = SURFACES[surface]
    if "model" in body:
        body = {**body, "model": CHAT_MODEL}
    send_and_leave(live_server, key, path.format(model=CHAT_MODEL), body)
    assert gauge(live_server, "aiaas_generations_running") == 0
    wait_for(lambda: len(usage_records(live_server, key, CHAT_MODEL)) == 1, 30)
    [record] = usage_records(live_server, key, CHAT_MODEL)
    assert record["status"] == "cancelled"


def test_a_request_past_the_context_in_tokens_is_refused_naming_the_item(
        live_server: LiveServer) -> None:
    key = new_key(live_server, f"fair-{uuid.uuid4().hex[:8]}")
    item = {"messages": [{"role": "user", "content": LONG[:16_000]}]}  # ~3,300 tokens each
    before = generation(live_server)["prefill_chunks"]
    with live_server.client(key) as client:
        many = client.post(f"/api/v1/models/{CHAT_MODEL}/predict",
                           json={"inputs": [item, item, item], "parameters": {"max_tokens": 1}})
        one = client.post("/v1/completions", json={"model": CHAT_MODEL, "prompt": DIGITS,
                                                   "max_tokens": 1})
    assert many.status_code == 422, many.text
    error = many.json()["error"]
    assert error["details"]["field"] == "inputs[2]" and error["details"]["limit"] == 8192
    assert "8192 tokens a request may hold" in error["message"]
    assert one.status_code == 400, one.text
    assert "context of 8192 tokens" in one.json()["error"]["message"]
    assert generation(live_server)["prefill_chunks"] == before, "a refused request reached the model"
