"""Speech recognition inputs and parameters (with synthetic tones and the real Whisper tiny.en
configuration), and the served path over HTTP with real (espeak-ng) speech and its 4xx errors."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiaas.builtin import SPEECH, ensure_builtins
from aiaas.config import Settings
from aiaas.errors import Invalid, PayloadTooLarge
from aiaas.formats import detect
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks.base import Limits, Prediction
from aiaas.tasks.speech import SpeechItem, SpeechRecognitionTask
from tests.conftest import Api
from tests.registry.conftest import write_tree
from tests.runtime.conftest import check_transcript, encode, tone_wav, whisper_dir

TASK = SpeechRecognitionTask()
ENGLISH = {"multilingual": False, "languages": ["en"]}
LIMITS = Limits(max_inputs=8, max_input_chars=100)
TONE = base64.b64encode(tone_wav(0.5)).decode()


# -- inputs and parameters -------------------------------------------------------------------

def test_items_may_be_base64_an_object_or_bytes() -> None:
    raw = tone_wav(0.5)
    items, params = TASK.check([TONE, {"audio": TONE, "language": "EN"}, raw, {"audio": raw}],
                               None, ENGLISH, LIMITS)
    assert all(isinstance(item, SpeechItem) for item in items)
    assert [item.language for item in items] == [None, "en", None, None]
    assert {item.clip.container for item in items} == {"wav"}
    assert items[0].clip.max_seconds == LIMITS.max_audio_seconds == 600
    assert params["beam_size"] == 5 and params["timestamps"] is False  # faster-whisper's default
    assert params["temperature"] == 0.0 and params["language"] is None


def test_the_audio_length_limit_comes_from_the_limits() -> None:
    [item], _ = TASK.check([TONE], {}, ENGLISH, Limits(8, 100, max_audio_seconds=2.0))
    assert item.clip.max_seconds == 2.0
    with pytest.raises(PayloadTooLarge, match=r"inputs\[1\]: the audio is over the limit of 0.25 s"):
        TASK.check([tone_wav(0.2), TONE], {}, ENGLISH, Limits(8, 100, max_audio_seconds=0.25))


@pytest.mark.parametrize(("item", "field", "says"), [
    (42, "inputs[0]", "expected the audio file as a base64 string, got int"),
    ({"language": "en"}, "inputs[0]", "missing 'audio'"),
    ({"audio": TONE, "speaker": 1}, "inputs[0]", "unknown field(s) speaker"),
    ({"audio": TONE, "language": "fr"}, "inputs[0].language", "English-only"),
    ({"audio": 7}, "inputs[0].audio", "got int"),
    ({"audio": "%%%"}, "inputs[0].audio", "not valid base64"),
    ("", "inputs[0]", "empty"),
    (b"", "inputs[0]", "empty"),
])
def test_bad_items_name_their_place(item: Any, field: str, says: str) -> None:
    with pytest.raises(Invalid) as caught:
        TASK.check([item], {}, ENGLISH, LIMITS)
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(field) and says in caught.value.message


@pytest.mark.parametrize(("parameters", "field"), [
    ({"beam_size": 0}, "parameters.beam_size"),
    ({"beam_size": 6}, "parameters.beam_size"),
    ({"beam_size": True}, "parameters.beam_size"),
    ({"temperature": -0.1}, "parameters.temperature"),
    ({"temperature": 1.5}, "parameters.temperature"),
    ({"temperature": "hot"}, "parameters.temperature"),
    ({"timestamps": "yes"}, "parameters.timestamps"),
    ({"prompt": "x" * 2001}, "parameters.prompt"),
    ({"language": "de"}, "parameters.language"),
    ({"language": 1}, "parameters.language"),
    ({"task": "translate"}, "parameters"),
])
def test_bad_parameters_name_the_parameter(parameters: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        TASK.check([TONE], parameters, ENGLISH, LIMITS)
    assert caught.value.details["field"] == field


class Recording(Backend):
    """Records the items of every backend call."""

    def __init__(self) -> None:
        super().__init__(Path("."), {})
        self.calls: list[list[Any]] = []

    def load(self) -> None:
        pass

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        self.calls.append(list(items))
        return [Prediction({"text": ""}) for _ in items]


async def test_every_request_is_its_own_batch() -> None:
    """A clip that fails while decoding must fail only its own request: speech requests never
    share a backend call (the manager submits them as exclusive)."""
    assert TASK.shares_batches is False
    items, params = TASK.check([TONE, TONE, TONE], {"beam_size": 2}, ENGLISH, LIMITS)
    backend = Recording()
    batcher = Batcher(backend, name="speech", max_batch=8, max_queue=8, wait_s=0.05, timeout_s=30.0)
    batcher.start()
    try:
        await asyncio.gather(*(batcher.submit([item], params) for item in items))
        shared = list(backend.calls)
        backend.calls.clear()
        await asyncio.gather(*(batcher.submit([item], params, exclusive=not TASK.shares_batches)
                               for item in items))
    finally:
        await batcher.stop()
    assert [len(call) for call in shared] == [3]  # the same parameters would share one call
    assert [len(call) for call in backend.calls] == [1, 1, 1]


def test_the_config_says_which_languages_the_model_knows(tmp_path: Path) -> None:
    assert TASK.prepare_config(detect(whisper_dir()), whisper_dir()) == ENGLISH
    multilingual = write_tree(tmp_path / "m", {
        "vocabulary.txt": "".join(f"t{i}\n" for i in range(51865)).encode()})
    config = TASK.prepare_config(detect(whisper_dir()), multilingual)
    assert config["multilingual"] is True and {"en", "fr", "de"} <= set(config["languages"])
    [item], params = TASK.check([{"audio": TONE, "language": "fr"}], {"language": "de"}, config,
                                LIMITS)
    assert item.language == "fr" and params["language"] == "de"


# -- over HTTP -------------------------------------------------------------------------------

HTTP_LIMIT_SECONDS = 10.0
URL = f"/api/v1/models/{SPEECH}/predict"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_models=False,
                    log_json=False, max_audio_seconds=HTTP_LIMIT_SECONDS)


@pytest.fixture
def speech_api(api: Api) -> Api:
    ensure_builtins(api.services.registry, only={SPEECH})
    return api


async def test_transcription_over_http_records_audio_seconds(speech_api: Api,
                                                             speech_wav: bytes) -> None:
    api = speech_api
    body = {"inputs": [base64.b64encode(speech_wav).decode()]}
    response = await api.client.post(URL, json=body, headers=api.auth())
    assert response.status_code == 200, response.text
    result = response.json()
    [output] = result["outputs"]
    check_transcript(output, len(speech_wav[44:]) / 2 / 22_050)
    assert result["usage"]["audio_seconds"] == pytest.approx(output["duration"], abs=0.01)
    usage = await api.client.get("/api/v1/usage", params={"model": SPEECH}, headers=api.auth())
    [row] = usage.json()["records"]
    assert row["status"] == "ok" and row["units"]["items"] == 1
    assert row["units"]["audio_seconds"] == pytest.approx(output["duration"], abs=0.01)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_INPUTS = {
    "text": (_b64(b"Dear hospital, please find our notes attached.\n" * 5), 422, "text"),
    "png": (_b64(_png()), 422, "PNG image"),
    "random": (_b64(np.random.default_rng(3).bytes(2048)), 422, "not a supported audio file"),
    "truncated-wav": (_b64(tone_wav(2.0)[:20_000]), 422, "truncated"),
    "invalid-base64": ("this is not base64!", 422, "not valid base64"),
    "bad-language": ({"audio": TONE, "language": "xx"}, 422, "unsupported language"),
    "over-limit": (_b64(tone_wav(HTTP_LIMIT_SECONDS + 2, rate=8000)), 413, "over the limit of 10 s"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
async def test_bad_audio_gets_a_named_4xx(speech_api: Api, name: str) -> None:
    item, status, says = BAD_INPUTS[name]
    response = await speech_api.client.post(URL, json={"inputs": [TONE, item]},
                                            headers=speech_api.auth())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert says in error["message"] and error["message"].startswith("inputs[1]")
    assert error["details"]["field"].startswith("inputs[1]")


async def test_a_corrupt_body_behind_a_good_header_is_a_422_not_a_500(speech_api: Api) -> None:
    flac = encode(tone_wav(3.0), "flac")
    garbled = flac[:300] + np.random.default_rng(4).bytes(len(flac) - 300)
    response = await speech_api.client.post(URL, json={"inputs": [_b64(garbled)]},
                                            headers=speech_api.auth())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "inputs[0]"
