"""Speech recognition with the real Whisper tiny.en weights on real (espeak-ng) speech: input and
parameter checks, CTranslate2 directory detection (a pickled ``model.bin`` is still refused),
transcription of every container, and the served path over HTTP with its 4xx errors."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiaas.builtin import SPEECH, ensure_builtins
from aiaas.config import Settings
from aiaas.errors import Invalid, PayloadTooLarge, UnsafeArtifact
from aiaas.registry.formats import detect
from aiaas.tasks.base import Limits
from aiaas.tasks.speech import SpeechItem, SpeechRecognitionTask
from tests.conftest import Api
from tests.registry.conftest import make_tar, write_tree
from tests.runtime.conftest import (
    ENCODERS,
    SPEECH_TEXT,
    encode,
    tone_wav,
    whisper_dir,
    word_error_rate,
)

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
    assert params["beam_size"] == 1 and params["timestamps"] is False
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


def test_every_request_is_its_own_batch() -> None:
    """A clip that fails while decoding must fail only its own request: speech requests never
    share a backend call (the manager submits them as exclusive)."""
    assert TASK.shares_batches is False
    assert TASK.check_parameters({"beam_size": 2}) == TASK.check_parameters({"beam_size": 2})


def test_the_config_says_which_languages_the_model_knows(tmp_path: Path) -> None:
    assert TASK.prepare_config(detect(whisper_dir()), whisper_dir()) == ENGLISH
    multilingual = write_tree(tmp_path / "m", {
        "vocabulary.txt": "".join(f"t{i}\n" for i in range(51865)).encode()})
    config = TASK.prepare_config(detect(whisper_dir()), multilingual)
    assert config["multilingual"] is True and {"en", "fr", "de"} <= set(config["languages"])
    [item], params = TASK.check([{"audio": TONE, "language": "fr"}], {"language": "de"}, config,
                                LIMITS)
    assert item.language == "fr" and params["language"] == "de"


# -- CTranslate2 directories -----------------------------------------------------------------

def ct2_header(spec: str = "WhisperSpec") -> bytes:
    """The start of a CTranslate2 model.bin: binary version 6, then the spec name."""
    name = spec.encode() + b"\0"
    return (6).to_bytes(4, "little") + len(name).to_bytes(2, "little") + name + bytes(64)


def ct2_files(weights: bytes | None = None, **extra: bytes) -> dict[str, bytes]:
    return {"model.bin": ct2_header() if weights is None else weights,
            "config.json": json.dumps({"suppress_ids": []}).encode(),
            "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n", **extra}


def test_the_packaged_whisper_directory_is_ctranslate2_whisper() -> None:
    detected = detect(whisper_dir())
    assert detected.format == "ctranslate2-whisper"
    assert detected.tasks == ("speech-recognition",)
    assert detected.config == {"model_file": "model.bin"}


def test_a_ctranslate2_header_is_what_admits_model_bin(tmp_path: Path) -> None:
    assert detect(write_tree(tmp_path / "m", ct2_files())).format == "ctranslate2-whisper"


PICKLE_0 = b"cos\nsystem\n(S'echo pwned'\ntR."


@pytest.mark.parametrize(("weights", "says"), [
    (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.", "it is a pickle (torch.save)"),
    (b"\x80\x02}q\x00.", "it is a pickle (torch.save)"),
    (b"PK\x03\x04" + bytes(60), "it is a zip (torch.save)"),
    (PICKLE_0, "a torch.save pickle (pytorch_model.bin)"),
    (np.random.default_rng(0).bytes(128), "a torch.save pickle (pytorch_model.bin)"),
    ((1000).to_bytes(4, "little") + ct2_header()[4:], "a torch.save pickle (pytorch_model.bin)"),
])
def test_a_model_bin_that_is_not_ctranslate2_is_still_refused(tmp_path: Path, weights: bytes,
                                                              says: str) -> None:
    with pytest.raises(UnsafeArtifact) as caught:
        detect(write_tree(tmp_path / "m", ct2_files(weights)))
    assert caught.value.code == "unsafe_artifact"
    assert "model.bin" in caught.value.message and says in caught.value.message
    assert caught.value.details == {"file": "model.bin"}


@pytest.mark.parametrize(("files", "refused"), [
    (ct2_files(**{"pytorch_model.bin": b"\x80\x04K\x01."}), "pytorch_model.bin"),
    (ct2_files(**{"extra.bin": ct2_header()}), "extra.bin"),
    ({f"sub/{name}": data for name, data in ct2_files().items()}, "sub/model.bin"),
    ({"model.bin": ct2_header(), "config.json": b"{}"}, "model.bin"),
    ({"model.bin": ct2_header(), "tokenizer.json": b"{}"}, "model.bin"),
])
def test_model_bin_is_admitted_only_at_the_top_of_a_ctranslate2_directory(
    tmp_path: Path, files: dict[str, bytes], refused: str
) -> None:
    with pytest.raises(UnsafeArtifact, match="can run code") as caught:
        detect(write_tree(tmp_path / "m", files))
    assert caught.value.details == {"file": refused}


def test_ctranslate2_models_other_than_whisper_are_not_served(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="CTranslate2 TransformerSpec model is not served"):
        detect(write_tree(tmp_path / "a", ct2_files(ct2_header("TransformerSpec"))))
    files = ct2_files()
    del files["tokenizer.json"]
    with pytest.raises(Invalid, match=r"needs its tokenizer\.json"):
        detect(write_tree(tmp_path / "b", files))


# -- transcription with the real weights -----------------------------------------------------

def check_transcript(output: dict[str, Any], clip_seconds: float) -> None:
    assert set(output) == {"text", "language", "duration", "segments"}
    assert output["language"] == "en"
    assert word_error_rate(SPEECH_TEXT, output["text"]) < 0.2, output["text"]
    assert output["duration"] == pytest.approx(clip_seconds, abs=0.1)
    segments = output["segments"]
    assert segments and [s["id"] for s in segments] == list(range(len(segments)))
    for previous, segment in zip([None, *segments], segments, strict=False):
        assert 0 <= segment["start"] < segment["end"] <= output["duration"] + 0.5
        assert segment["text"] and segment["text"] == segment["text"].strip()
        if previous is not None:
            assert segment["start"] >= previous["end"] - 0.01
    assert " ".join(s["text"] for s in segments) == output["text"]


@pytest.mark.parametrize("container", list(ENCODERS))
def test_each_container_transcribes(whisper_backend: Any, speech_clips: dict[str, bytes],
                                    container: str) -> None:
    [item], params = TASK.check([speech_clips[container]], {}, ENGLISH, LIMITS)
    [prediction] = whisper_backend.predict_batch([item], params)
    check_transcript(prediction.output, item.clip.header_seconds)
    assert prediction.audio_seconds == pytest.approx(prediction.output["duration"], abs=0.001)


def test_word_timestamps_and_beam_search(whisper_backend: Any, speech_wav: bytes) -> None:
    [item], params = TASK.check([speech_wav], {"timestamps": True, "beam_size": 3,
                                               "prompt": "City council."}, ENGLISH, LIMITS)
    [prediction] = whisper_backend.predict_batch([item], params)
    output = prediction.output
    assert word_error_rate(SPEECH_TEXT, output["text"]) < 0.2, output["text"]
    starts = []
    for segment in output["segments"]:
        assert segment["words"]
        for word in segment["words"]:
            assert segment["start"] - 0.01 <= word["start"] <= word["end"] <= segment["end"] + 0.01
            assert 0 <= word["probability"] <= 1
            starts.append(word["start"])
    assert starts == sorted(starts)
    assert "hospitals" in " ".join(w["word"] for s in output["segments"] for w in s["words"]).lower()


def test_audio_without_speech_gives_no_text(whisper_backend: Any) -> None:
    [item], params = TASK.check([tone_wav(3.0)], {}, ENGLISH, LIMITS)
    [prediction] = whisper_backend.predict_batch([item], params)
    assert prediction.output == {"text": "", "language": "en", "duration": 3.0, "segments": []}
    assert prediction.audio_seconds == pytest.approx(3.0)


def test_a_clip_that_fails_to_decode_names_its_place(whisper_backend: Any,
                                                     speech_wav: bytes) -> None:
    flac = encode(tone_wav(3.0), "flac")
    garbled = flac[:300] + np.random.default_rng(2).bytes(len(flac) - 300)
    items, params = TASK.check([speech_wav, garbled], {}, ENGLISH, LIMITS)  # the header is fine
    with pytest.raises(Invalid, match=r"^inputs\[1\]: the flac file"):
        whisper_backend.predict_batch(items, params)


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


async def test_uploading_a_whisper_directory_with_a_pickled_model_bin_is_refused(api: Api) -> None:
    files = ct2_files(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.")
    archive = make_tar([(f"whisper/{name}", data) for name, data in files.items()])
    response = await api.client.post("/api/v1/models/evil-whisper/versions", content=archive,
                                     headers=api.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsafe_artifact" and "model.bin" in error["message"]
    listed = await api.client.get("/api/v1/models", headers=api.auth())
    assert "evil-whisper" not in listed.text
