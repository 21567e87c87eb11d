"""Audio decoding: the four containers decode to 16 kHz mono float32; anything else, corrupt or
truncated audio, bad base64 and audio over the length limit are named 4xx errors, and a header
that lies about the length cannot make the decoder go past the limit."""

from __future__ import annotations

import base64
import gzip
import io

import numpy as np
import pytest
from PIL import Image

from aiaas.errors import Invalid, PayloadTooLarge
from aiaas.tasks.audio import SAMPLE_RATE, b64_audio, decode, load_audio, probe, sniff
from tests.runtime.conftest import ENCODERS, encode, tone_wav

CONTAINERS = list(ENCODERS)


@pytest.fixture(scope="module")
def stereo_tones() -> dict[str, bytes]:
    """Two seconds of a 440 Hz tone, 44.1 kHz stereo, in each container (Opus is 48 kHz)."""
    wav = tone_wav(2.0, rate=44_100, channels=2)
    return {c: wav if c == "wav" else encode(wav, c, layout="stereo") for c in CONTAINERS}


@pytest.mark.parametrize("container", CONTAINERS)
def test_each_container_decodes_to_16k_mono_float32(stereo_tones: dict[str, bytes],
                                                    container: str) -> None:
    data = stereo_tones[container]
    assert sniff(data) == container
    clip = probe(data, max_seconds=60)
    assert clip.header_seconds == pytest.approx(2.0, abs=0.1)
    samples = load_audio(data, max_seconds=60)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size / SAMPLE_RATE == pytest.approx(2.0, abs=0.1)
    assert 0.1 < float(np.sqrt(np.mean(samples**2))) < 0.5
    assert float(np.abs(samples).max()) <= 1.0
    spectrum = np.abs(np.fft.rfft(samples[: SAMPLE_RATE]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=3)  # 1 s window: 1 Hz per bin


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


NOT_AUDIO = {
    "text": (b"hello, this is a text file and not audio\n" * 20, "text"),
    "png": (_png(), "PNG"),
    "random": (np.random.default_rng(0).bytes(4096), "unrecognised bytes"),
    "empty": (b"", "empty"),
    "avi": (b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(64), "not WAVE"),
    "gzip": (gzip.compress(b"x" * 100), "archive"),
    "aac-adts": (b"\xff\xf1\x50\x80" + bytes(200), "not a supported audio file"),
}


@pytest.mark.parametrize("name", list(NOT_AUDIO))
def test_what_is_not_audio_is_refused_by_its_magic_bytes(name: str) -> None:
    data, says = NOT_AUDIO[name]
    with pytest.raises(Invalid) as caught:
        probe(data, max_seconds=60, where="inputs[3]")
    assert not isinstance(caught.value, PayloadTooLarge)
    assert caught.value.message.startswith("inputs[3]: ")
    assert says in caught.value.message and "WAV, FLAC, MP3" in caught.value.message
    assert caught.value.details == {"field": "inputs[3]"}


def test_a_truncated_wav_is_refused_before_decoding() -> None:
    wav = tone_wav(2.0)
    for cut in (len(wav) // 2, 44, 60):
        with pytest.raises(Invalid, match="WAV file is truncated: its header declares 88200 bytes"):
            probe(wav[:cut], max_seconds=60)
    with pytest.raises(Invalid, match="truncated or corrupt: it has no data chunk"):
        probe(wav[:30], max_seconds=60)


def test_a_streamed_wav_with_an_unknown_length_is_accepted() -> None:
    wav = bytearray(tone_wav(1.0))
    wav[40:44] = (0x7FFFF000).to_bytes(4, "little")  # what espeak-ng --stdout writes
    assert load_audio(bytes(wav), max_seconds=60).size == pytest.approx(SAMPLE_RATE, abs=10)


@pytest.mark.parametrize("container", ["flac", "mp3", "ogg"])
def test_corrupt_or_cut_audio_is_a_422_never_a_crash(container: str) -> None:
    data = encode(tone_wav(3.0), container)
    rng = np.random.default_rng(1)
    broken = [data[:120], data[:300] + rng.bytes(len(data) - 300)]
    if container == "flac":
        broken.append(data[: len(data) // 2])
    for sample in broken:
        with pytest.raises(Invalid, match=rf"inputs\[0\]: the {container} file"):
            load_audio(sample, max_seconds=60, where="inputs[0]")


def test_joined_mp3s_decode_whole_even_when_the_rate_changes() -> None:
    """``cat a.mp3 b.mp3``: the second file's tag is one bad packet (skipped), and its other
    sample rate gets a fresh resampler."""
    first, second = encode(tone_wav(1.0, rate=44_100), "mp3"), encode(tone_wav(1.0), "mp3")
    samples = load_audio(first + second, max_seconds=60)
    assert samples.size / SAMPLE_RATE == pytest.approx(2.0, abs=0.15)


def test_a_wav_with_endless_chunks_is_refused_without_walking_them() -> None:
    hostile = tone_wav(0.1)[:12] + (b"JUNK" + bytes(4)) * 1_000_000
    with pytest.raises(Invalid, match="it has no data chunk"):
        probe(hostile, max_seconds=60)


def test_a_flac_cut_short_is_truncated() -> None:
    data = encode(tone_wav(3.0), "flac")
    with pytest.raises(Invalid, match="truncated"):
        load_audio(data[: len(data) // 2], max_seconds=60)


def test_an_exotic_codec_inside_wav_is_refused() -> None:
    import av

    out = io.BytesIO()
    with av.open(io.BytesIO(tone_wav(0.5, rate=8000)), format="wav") as source, \
            av.open(out, mode="w", format="wav") as target:
        stream = target.add_stream("adpcm_g726", rate=8000, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono",
                                      rate=8000)
        for frame in [*source.decode(source.streams.audio[0]), None]:
            for resampled in resampler.resample(frame):
                resampled.pts = None
                for packet in stream.encode(resampled):
                    target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    with pytest.raises(Invalid, match="holds 'g726' audio"):
        probe(out.getvalue(), max_seconds=60)


def test_audio_over_the_limit_is_refused_from_its_header() -> None:
    wav = tone_wav(3.0)
    with pytest.raises(PayloadTooLarge) as caught:
        probe(wav, max_seconds=2.5, where="inputs[1]")
    assert "over the limit of 2.5 s" in caught.value.message and "3.0 s long" in caught.value.message
    assert caught.value.details == {"field": "inputs[1]", "limit_seconds": 2.5}
    assert probe(wav, max_seconds=3.5).header_seconds == pytest.approx(3.0)


def _flac_declaring(data: bytes, total_samples: int) -> bytes:
    """The FLAC with STREAMINFO's 36-bit total-samples field (bytes 18-25) replaced."""
    patched = bytearray(data)
    fields = int.from_bytes(patched[18:26], "big")
    patched[18:26] = ((fields >> 36 << 36) | total_samples).to_bytes(8, "big")
    return bytes(patched)


@pytest.mark.parametrize("declared", [22_050, 0])
def test_a_header_that_lies_about_the_length_cannot_exceed_the_limit(declared: int) -> None:
    """5 s of audio whose header says 1 s (or nothing): probing passes, decoding stops at 2 s."""
    data = _flac_declaring(encode(tone_wav(5.0), "flac"), declared)
    clip = probe(data, max_seconds=2)
    assert clip.header_seconds in (1.0, None)
    with pytest.raises(PayloadTooLarge, match=r"over the limit of 2 s .* runs past that once decoded"):
        decode(clip, "inputs[0]")


def test_base64_with_whitespace_and_a_data_url_prefix_decodes() -> None:
    wav = tone_wav(0.2)
    encoded = base64.b64encode(wav).decode()
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    assert b64_audio(wrapped) == wav
    assert b64_audio(" data:audio/wav;base64," + encoded) == wav
    with pytest.raises(Invalid, match="not valid base64"):
        b64_audio(encoded[:40] + "data:audio/wav;base64," + encoded[40:])


@pytest.mark.parametrize("text", ["not base64 at all!", "UklGRg=", "UklGR!==", "   "])
def test_invalid_base64_is_a_422_naming_the_field(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        b64_audio(text, "inputs[2]")
    assert caught.value.message.startswith("inputs[2]: ")
    assert "base64" in caught.value.message
    assert caught.value.details == {"field": "inputs[2]"}
