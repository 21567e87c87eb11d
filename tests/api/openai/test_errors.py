"""The OpenAI error shape on raw HTTP, in process: the body limit, routes, methods and bodies;
native paths keep their own shape."""

from __future__ import annotations

import json
from typing import Any

from aiaas.builtin import EMBEDDER, ensure_builtins
from tests.api.openai.conftest import QUESTION, SMALL_BODY, SPEECH_MODEL, assert_shape
from tests.conftest import Api


async def test_an_audio_upload_over_the_body_limit_is_a_413_in_openai_shape(api: Api) -> None:
    audio = b"RIFF" + b"\0" * (SMALL_BODY * 2)
    declared = await api.client.post("/v1/audio/transcriptions", headers=api.auth(),
                                     data={"model": SPEECH_MODEL}, files={"file": ("a.wav", audio)})
    error = assert_shape(declared, 413)
    assert error["type"] == "invalid_request_error" and error["code"] == "payload_too_large"
    assert str(SMALL_BODY) in error["message"]

    request = api.client.build_request("POST", "/v1/audio/transcriptions", headers=api.auth(),
                                       data={"model": SPEECH_MODEL}, files={"file": ("a.wav", audio)})
    payload = request.read()

    async def chunked() -> Any:
        for start in range(0, len(payload), 8192):
            yield payload[start:start + 8192]

    streamed = await api.client.post(
        "/v1/audio/transcriptions", content=chunked(),
        headers={**api.auth(), "content-type": request.headers["content-type"]})
    assert assert_shape(streamed, 413)["code"] == "payload_too_large"


async def test_routes_methods_and_bodies_get_openai_errors(api: Api) -> None:
    ensure_builtins(api.services.registry, only={EMBEDDER})
    auth = api.auth()
    assert "/v1/nothing-here" in assert_shape(await api.client.get("/v1/nothing-here", headers=auth),
                                              404)["message"]
    assert_shape(await api.client.get("/v1/embeddings", headers=auth), 405)
    assert assert_shape(await api.client.post("/v1/embeddings", content=b"{not json",
                                              headers={**auth, "content-type": "application/json"}),
                        400)["code"] == "invalid_json"
    missing = assert_shape(await api.client.post("/v1/embeddings", json={"model": EMBEDDER},
                                                 headers=auth), 400)
    assert missing["param"] == "input" and missing["type"] == "invalid_request_error"
    unknown = assert_shape(await api.client.post("/v1/chat/completions", headers=auth, json={
        "model": "x", "messages": QUESTION, "functions": []}), 400)
    assert unknown["param"] == "functions"
    no_key = assert_shape(await api.client.get("/v1/models"), 401)
    assert no_key["code"] == "invalid_api_key"
    not_generative = assert_shape(await api.client.post("/v1/chat/completions", headers=auth, json={
        "model": EMBEDDER, "messages": QUESTION}), 400)
    assert not_generative["param"] == "model" and "/v1/embeddings" in not_generative["message"]


async def test_native_paths_keep_their_own_error_shape(api: Api) -> None:
    response = await api.client.get("/api/v1/models/nope", headers=api.auth())
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}
    too_big = await api.client.post("/api/v1/models/nope/predict", headers=api.auth(),
                                    content=json.dumps({"inputs": ["x" * SMALL_BODY]}))
    assert too_big.status_code == 413 and "details" in too_big.json()["error"]
