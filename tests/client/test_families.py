"""The SDK's model-family calls (chat, streamed chat, transcribe, classify) against a real server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from aiaas.client import (
    AiaasAPIError,
    APIConnectionError,
    AsyncClient,
    BadRequestError,
    Client,
    NotFoundError,
    ServiceUnavailableError,
    UsageRecord,
)
from tests.client.conftest import SPEECH_TEXT
from tests.conftest import LiveServer
from tests.runtime.tiny_models import (
    IMAGE_LABELS,
    SENTENCES,
    TEXT_LABELS,
    build_onnx_image_classifier,
    build_text_classifier,
    picture,
)

CHAT = "smollm2-135m-instruct"
SPEECH = "whisper-tiny-en"
QUESTION = "What is the capital of France?"
GREEDY = {"temperature": 0.0, "max_tokens": 24}


def test_chat_answers_and_a_second_turn_carries_the_history(client: Client) -> None:
    first = client.chat(CHAT, QUESTION, **GREEDY)
    assert "Paris" in first.text
    assert first.model == CHAT and first.finish_reason in {"stop", "length"}
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens

    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first.text},
               {"role": "user", "content": "And of Italy?"}]
    second = client.chat(f"{CHAT}:1", history, **GREEDY)
    assert second.text
    # The second prompt holds the first question and answer, then the new question.
    assert second.usage.prompt_tokens > first.usage.prompt_tokens + first.usage.completion_tokens


def test_chat_stream_yields_deltas_that_join_into_the_answer(client: Client) -> None:
    with client.chat_stream(CHAT, [{"role": "user", "content": QUESTION}], **GREEDY) as stream:
        deltas = list(stream)
    assert len(deltas) >= 3
    assert "".join(deltas) == stream.text
    assert "Paris" in stream.text
    assert stream.completed and stream.finish_reason in {"stop", "length"}
    assert stream.usage is not None and stream.usage.completion_tokens > 0
    assert stream.result().text == stream.text
    # Greedy decoding: the same answer as the one-shot call.
    assert client.chat(CHAT, QUESTION, **GREEDY).text == stream.text


def _newest_openai_record(client: Client, after: int) -> UsageRecord | None:
    records = client.usage(model=CHAT, limit=20).records
    return next((r for r in records if r.surface == "openai" and r.id > after), None)


def test_closing_a_stream_early_stops_the_generation(client: Client) -> None:
    before = max((r.id for r in client.usage(model=CHAT, limit=1).records), default=0)
    stream = client.chat_stream(CHAT, "Write a long story about a dragon.", temperature=0.0,
                                max_tokens=400)
    deltas = iter(stream)
    assert next(deltas) and next(deltas)
    stream.close()
    assert not stream.completed and stream.finish_reason is None

    deadline = time.monotonic() + 20
    while (record := _newest_openai_record(client, before)) is None:
        assert time.monotonic() < deadline, "no usage record for the closed stream"
        time.sleep(0.2)
    assert record.status == "cancelled"
    assert 0 < record.units.completion_tokens < 400


def test_transcribe_a_spoken_wav(client: Client, speech_wav: Path) -> None:
    transcript = client.transcribe(SPEECH, speech_wav)
    text = transcript.text.lower()
    assert "hospitals" in text and "city council" in text
    assert transcript.language == "en" and 4 < transcript.duration < 10
    assert transcript.segments and transcript.segments[-1].end <= transcript.duration + 0.5
    assert transcript.to_srt().startswith("1\n00:00:00,000 --> 00:00:0")
    assert transcript.to_vtt().startswith("WEBVTT\n\n00:00:00.000 --> 00:00:0")

    timed = client.transcribe(SPEECH, speech_wav.read_bytes(), language="en", timestamps=True)
    words = [word for segment in timed.segments for word in segment.words or []]
    assert len(words) >= len(SPEECH_TEXT.split()) - 2
    assert all(word.start <= word.end for word in words)


async def test_async_chat_stream_and_transcribe(live_server: LiveServer, tenant_key: str,
                                                speech_wav: Path) -> None:
    async with AsyncClient(live_server.url, tenant_key) as sdk:
        stream = await sdk.chat_stream(CHAT, QUESTION, **GREEDY)
        async with stream:
            deltas = [delta async for delta in stream]
        assert "".join(deltas) == stream.text and "Paris" in stream.text
        assert stream.usage is not None and stream.usage.prompt_tokens > 0
        assert (await sdk.chat(CHAT, QUESTION, **GREEDY)).text == stream.text

        transcript = await sdk.transcribe(SPEECH, speech_wav)
        assert "city council" in transcript.text.lower()


@pytest.fixture(scope="module")
def classifiers(live_server: LiveServer, tenant_key: str,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A tiny BERT sentiment model and a tiny ONNX image model, registered for tenant 'sdk'."""
    root = tmp_path_factory.mktemp("classifiers")
    manifest = {"task": "image-classification", "labels": list(IMAGE_LABELS)}
    with Client(live_server.url, tenant_key) as sdk:
        sdk.upload_model("sentiment", build_text_classifier(root / "sentiment"))
        sdk.upload_model("shapes", build_onnx_image_classifier(root / "shapes", manifest=manifest))
    return "sentiment", "shapes"


def test_classify_texts_images_and_records(client: Client, classifiers: tuple[str, str],
                                           tmp_path: Path) -> None:
    texts, images = classifiers
    moods = client.classify(SENTENCES[:3], model=texts, top_k=1)
    assert len(moods) == 3
    for mood in moods:
        assert mood.label in TEXT_LABELS and [best.label for best in mood.top_k] == [mood.label]
    assert len(client.classify("a lone text is one input", model=texts)) == 1

    png = tmp_path / "picture.png"
    png.write_bytes(picture("PNG", seed=3))
    jpeg = picture("JPEG", (64, 20), seed=4)
    seen = client.classify([png, jpeg], model=images, top_k=2)
    assert len(seen) == 2
    for result in seen:
        assert set(result.probabilities) == set(IMAGE_LABELS) and len(result.top_k) == 2
        assert result.top_k[0].label == result.label
    with png.open("rb") as handle:
        assert client.classify(handle, model=images)[0].label == seen[0].label
    with pytest.raises(ValueError, match="images cannot be sent together"):
        client.classify([png, "text"], model=images)

    data = load_breast_cancer()
    record = {name: float(v) for name, v in zip(data.feature_names, data.data[0], strict=True)}
    [diagnosis] = client.classify(record)
    assert diagnosis.label == data.target_names[data.target[0]] and diagnosis.top_k == []


def test_errors_on_both_surfaces_map_to_typed_exceptions(client: Client) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.chat_stream("no-such-model", QUESTION)
    assert missing.value.status == 404 and missing.value.code == "model_not_found"
    assert "no-such-model" in missing.value.message and missing.value.request_id

    with pytest.raises(BadRequestError) as empty:
        client.chat_stream(CHAT, "   ")
    assert empty.value.status == 400 and empty.value.code == "invalid_request"
    assert "empty" in empty.value.message

    with pytest.raises(BadRequestError) as wrong_family:
        client.chat_stream("all-minilm-l6-v2", QUESTION)
    assert wrong_family.value.details == {"type": "invalid_request_error", "field": "model"}

    with pytest.raises(BadRequestError) as native:
        client.chat(CHAT, [{"role": "assistant", "content": "hello"}])
    assert native.value.status == 422 and "must be from the user" in native.value.message

    with pytest.raises(BadRequestError) as not_audio:
        client.transcribe(SPEECH, b"this is not audio")
    assert not_audio.value.status == 422

    with pytest.raises(AiaasAPIError, match="not a classification model") as not_a_classifier:
        client.classify("hello", model="all-minilm-l6-v2")
    assert not_a_classifier.value.code == "unexpected_output"


class _Broken(BaseHTTPRequestHandler):
    """Streams one chunk, then ``body`` (an error event, or nothing: the stream is cut)."""

    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        chunk = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n" + type(self).body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken() -> Iterator[tuple[str, type[_Broken]]]:
    """A tiny real HTTP server whose streams fail half-way: the only way to get that on cue."""
    handler = type("Broken", (_Broken,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_stream_that_fails_half_way_raises(broken: tuple[str, type[_Broken]]) -> None:
    url, handler = broken
    error = {"error": {"message": "the model was unloaded", "type": "server_error", "param": None,
                       "code": "unavailable"}}
    handler.body = b"data: " + json.dumps(error).encode() + b"\n\ndata: [DONE]\n\n"
    with Client(url, "aiaas-0123456789abcdef-x") as sdk:
        stream = sdk.chat_stream(CHAT, QUESTION)
        deltas = iter(stream)
        assert next(deltas) == "Hel"
        with pytest.raises(ServiceUnavailableError, match="unloaded") as failed:
            next(deltas)
        assert failed.value.code == "unavailable" and failed.value.status is None

        handler.body = b""
        with pytest.raises(APIConnectionError, match="ended before"):
            sdk.chat_stream(CHAT, QUESTION).result()
