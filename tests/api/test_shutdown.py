"""SIGTERM to ``aiaas serve`` (a real process) while generations run past the grace: a stream
ends with an OpenAI error event and ``[DONE]`` in a well-formed body, a call waiting for its
whole answer gets a 503, and the server exits within the grace."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from aiaas.auth.principal import Principal
from aiaas.builtin import CHAT, ensure_builtins
from aiaas.config import Settings
from aiaas.services import Services
from tests.conftest import free_port

GRACE_S = 2.0
LONG_CHAT = {"model": CHAT, "max_tokens": 1024, "temperature": 0,  # 1,024 tokens: minutes here
             "messages": [{"role": "user", "content": "Write a 3000-word essay about the "
                                                      "history of Rome, with many chapters."}]}


def serve(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``aiaas serve`` with only the chat model, a short grace, and an admin key."""
    offline = Services.build(Settings(data_dir=data_dir, builtin_models=False))
    ensure_builtins(offline.registry, only={CHAT})
    key = offline.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    offline.db.dispose()
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_PORT": str(port),
           "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_SHUTDOWN_GRACE_S": str(GRACE_S)}
    log = (data_dir.parent / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "aiaas", "serve"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (data_dir.parent / "server.log").read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, key
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the server did not become ready in 120 s")


def whole_answer(url: str, key: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        return client.post("/v1/chat/completions", json=LONG_CHAT)


def test_sigterm_ends_long_streams_with_an_error_event_and_a_clean_close(tmp_path: Path) -> None:
    process, url, key = serve(tmp_path / "data")
    events: list[Any] = []
    try:
        with httpx.Client(base_url=url, timeout=120,
                          headers={"Authorization": f"Bearer {key}"}) as client, \
                concurrent.futures.ThreadPoolExecutor(1) as pool:
            with client.stream("POST", "/v1/chat/completions",
                               json={**LONG_CHAT, "stream": True}) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                for line in lines:  # generating: a content chunk has arrived
                    if line.startswith("data: ") and '"content":"' in line \
                            and '"content":""' not in line:
                        break
                waiting = pool.submit(whole_answer, url, key)
                time.sleep(0.5)
                process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                for line in lines:  # to the end of the body: httpx raises on a broken one
                    if line.startswith("data: "):
                        payload = line.removeprefix("data: ")
                        events.append(payload if payload == "[DONE]" else json.loads(payload))
                ended = time.monotonic() - signalled
            answer = waiting.result(timeout=60)
        exit_code = process.wait(timeout=GRACE_S + 20)
        stopped = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
    assert events[-1] == "[DONE]"
    error = events[-2]["error"]
    assert error["code"] == "unavailable" and "shutting down" in error["message"]
    assert all("choices" in event for event in events[:-2])
    assert len(events) >= 3  # tokens kept coming during the grace
    assert 1.0 < ended < GRACE_S + 1.0
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    assert exit_code in (0, -signal.SIGTERM)
    assert stopped < GRACE_S + 15
