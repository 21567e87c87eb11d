"""The Whisper backend with the real tiny.en weights on real (espeak-ng) speech: every container
transcribes, word timestamps and beam search, silence gives no text, and a clip that fails to
decode names its place."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits
from aiaas.tasks.speech import SpeechRecognitionTask
from tests.runtime.conftest import ENCODERS, SPEECH_TEXT, check_transcript, encode, tone_wav, word_error_rate

TASK = SpeechRecognitionTask()
ENGLISH = {"multilingual": False, "languages": ["en"]}
LIMITS = Limits(max_inputs=8, max_input_chars=100)


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
