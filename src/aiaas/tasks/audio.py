"""Audio in: decode base64, sniff the container, read its header, decode to 16 kHz mono float32.

Every step is bounded and every failure is a domain error (``Invalid`` -> 422, or
``PayloadTooLarge`` -> 413 for audio over the length limit), never a framework exception:

1. ``sniff``: the container is told by its magic bytes (RIFF/WAVE, fLaC, ID3 or an MPEG audio
   frame, OggS); anything else (text, an image, random bytes) is refused before FFmpeg sees it.
2. ``probe``: the container is opened with that demuxer *forced* (FFmpeg never guesses a format
   from user bytes, so playlist or image demuxers are out of reach), the codec must be an audio
   codec on the allow-list, and the length the header declares must be within the limit.
   A WAV whose ``data`` chunk declares more bytes than are present is refused as truncated.
3. ``decode``: frames are resampled to 16 kHz mono float32 and counted as they come; decoding
   stops with 413 as soon as the decoded length passes the limit, whatever the header said, so a
   hostile header cannot make it allocate more than ``max_seconds`` of samples. A decoding error
   anywhere in the stream is a 422 (no silent skipping of corrupt frames).

``probe`` is cheap (header only) and runs on the event loop; ``decode`` runs on the model's
worker thread. ``load_audio`` does all three for callers holding raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aiaas.errors import Invalid, PayloadTooLarge

SAMPLE_RATE = 16_000
CONTAINERS = ("wav", "flac", "mp3", "ogg")
# Decoders a sniffed container may use: PCM in WAV, and the codecs of the four containers.
ALLOWED_CODECS = frozenset({"flac", "mp3", "mp3float", "vorbis", "opus", "speex", "adpcm_ms",
                            "adpcm_ima_wav"})
MAX_CHANNELS = 16
MAX_BAD_PACKETS = 3
MIN_RATE, MAX_RATE = 1_000, 384_000
# WAV writers that stream (pipes) leave the data size at 0 or near 2**32: "unknown length".
_UNKNOWN_WAV_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000)
# Decoded audio shorter than the header by more than this is taken as truncated (WAV, FLAC).
_TRUNCATION_TOLERANCE = 0.05
_DATA_URL = re.compile(r"\s*data:audio/[\w.+-]+;base64,", re.IGNORECASE)
# RIFF chunks walked looking for ``data`` (real files have a handful: fmt, fact, LIST, data).
_MAX_WAV_CHUNKS = 32
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class AudioClip:
    """Audio bytes whose container and header have been checked, not yet decoded."""

    data: bytes
    container: str
    codec: str
    header_seconds: float | None
    """The length the header declares (an estimate for MP3 without a Xing/VBRI header)."""
    max_seconds: float


def b64_audio(text: str, where: str = "audio") -> bytes:
    """Bytes of base64 text (standard alphabet, padded; whitespace and a ``data:audio/...;base64,``
    prefix are allowed), or ``Invalid`` saying it is not base64."""
    prefix = _DATA_URL.match(text)
    text = _WHITESPACE.sub("", text[prefix.end():] if prefix else text)
    if not text:
        raise Invalid.at(where, "empty: send the audio file's bytes, base64-encoded")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid.at(where, "not valid base64: send the audio file's bytes, base64-encoded "
                                "(standard alphabet, with padding)") from None


def sniff(data: bytes, where: str = "audio") -> str:
    """The container named by the magic bytes: one of ``CONTAINERS``, else ``Invalid``."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3":
        return "mp3"
    if _mpeg_audio_frame(data[:4]):
        return "mp3"
    raise Invalid.at(where, f"not a supported audio file ({_describe(data)}); send WAV, FLAC, "
                            "MP3 or Ogg (Vorbis/Opus) audio")


def _mpeg_audio_frame(header: bytes) -> bool:
    """True for an MPEG-1/2/2.5 Layer I-III frame header (frame sync plus valid fields)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return False
    version = (header[1] >> 3) & 0b11
    layer = (header[1] >> 1) & 0b11
    bitrate = header[2] >> 4
    rate = (header[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate != 0b1111 and rate != 0b11


def _describe(data: bytes) -> str:
    if not data:
        return "it is empty"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "it is a PNG image"
    if data[:3] == b"\xff\xd8\xff":
        return "it is a JPEG image"
    if data[:4] == b"PK\x03\x04" or data[:2] == b"\x1f\x8b":
        return "it is an archive"
    if data[:4] == b"RIFF":
        return "a RIFF file that is not WAVE"
    head = data[:512]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"unrecognised bytes {data[:4].hex(' ')}"
    return "it looks like text"


def probe(data: bytes, *, max_seconds: float, where: str = "audio") -> AudioClip:
    """Check container, codec, format and declared length without decoding the audio."""
    container = sniff(data, where)
    if container == "wav":
        _check_wav_size(data, where)
    import av

    # A WAV header says everything; FFmpeg's default 5 MB probe of PCM costs ~10 ms an item.
    options = {"probesize": "4096"} if container == "wav" else {}
    try:
        with av.open(io.BytesIO(data), mode="r", format=container, options=options,
                     metadata_errors="ignore") as opened:
            if not opened.streams.audio:
                raise Invalid.at(where, f"the {container} file has no audio stream")
            stream = opened.streams.audio[0]
            codec = stream.codec_context.name
            rate = int(stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            seconds = _declared_seconds(stream, opened)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise _corrupt(where, container, exc) from None
    if not (codec.startswith("pcm_") or codec in ALLOWED_CODECS):
        raise Invalid.at(where, f"the {container} file holds {codec!r} audio; supported: PCM, "
                                "ADPCM, FLAC, MP3, Vorbis, Opus, Speex", codec=codec)
    if not MIN_RATE <= rate <= MAX_RATE or not 1 <= channels <= MAX_CHANNELS:
        raise Invalid.at(where, f"the header declares {rate} Hz and {channels} channel(s), "
                                f"outside {MIN_RATE}-{MAX_RATE} Hz and 1-{MAX_CHANNELS} channels")
    if seconds is not None and seconds > max_seconds:
        raise too_long(where, seconds, max_seconds)
    return AudioClip(data, container, codec, seconds, max_seconds)


def _declared_seconds(stream: Any, opened: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if opened.duration is not None and opened.duration > 0:
        return float(opened.duration) / 1_000_000
    return None


def _check_wav_size(data: bytes, where: str) -> None:
    """Walk the RIFF chunks to ``data``; refuse a file shorter than the size it declares."""
    offset = 12
    for _ in range(_MAX_WAV_CHUNKS):
        if offset + 8 > len(data):
            break
        chunk_id = data[offset:offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        if chunk_id == b"data":
            present = len(data) - offset - 8
            if size not in _UNKNOWN_WAV_SIZES and present < size:
                raise Invalid.at(where, f"the WAV file is truncated: its header declares {size} "
                                        f"bytes of audio, {present} are present")
            return
        offset += 8 + size + (size & 1)
    raise Invalid.at(where, "the WAV file is truncated or corrupt: it has no data chunk")


def decode(clip: AudioClip, where: str = "audio") -> npt.NDArray[np.float32]:
    """16 kHz mono float32 samples of a probed clip, bounded by ``clip.max_seconds``."""
    import av

    limit = int(clip.max_seconds * SAMPLE_RATE) + SAMPLE_RATE // 20
    chunks: list[npt.NDArray[np.float32]] = []
    total = 0
    try:
        with av.open(io.BytesIO(clip.data), mode="r", format=clip.container,
                     metadata_errors="ignore") as opened:
            for frame in _resampled(_decoded(opened, opened.streams.audio[0])):
                # s16 then /32768, as faster_whisper.decode_audio does: the same samples.
                samples = frame.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                total += samples.size
                if total > limit:
                    raise too_long(where, total / SAMPLE_RATE, clip.max_seconds, decoded=True)
                chunks.append(samples)
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise _corrupt(where, clip.container, exc) from None
    if total == 0:
        raise Invalid.at(where, f"the {clip.container} file contains no audio samples")
    audio = np.concatenate(chunks)
    _check_complete(clip, audio.size / SAMPLE_RATE, where)
    return audio


def _decoded(opened: Any, stream: Any) -> Iterator[Any]:
    """Decoded frames, packet by packet. A few undecodable packets are skipped (a tag between
    two joined MP3s, one damaged frame); more than ``MAX_BAD_PACKETS`` is a corrupt file. What
    is cut short is caught by the length check (WAV, FLAC) or simply ends (MP3, Ogg)."""
    import av

    bad = 0
    for packet in opened.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            bad += 1
            if bad > MAX_BAD_PACKETS:
                raise
            continue
        yield from frames


def _resampled(frames: Any) -> Iterator[Any]:
    """Frames at 16 kHz mono s16; a new resampler whenever the input's format, layout or rate
    changes mid-stream (joined MP3s do that), each flushed at its end."""
    import av

    resampler: Any = None
    signature: tuple[str, str, int] | None = None
    for frame in frames:
        key = (frame.format.name, frame.layout.name, int(frame.sample_rate))
        if key != signature:
            if resampler is not None:
                yield from resampler.resample(None)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            signature = key
        yield from resampler.resample(frame)
    if resampler is not None:
        yield from resampler.resample(None)


def _check_complete(clip: AudioClip, seconds: float, where: str) -> None:
    """WAV and FLAC headers state the exact length: much less audio than that is truncation."""
    if clip.container not in ("wav", "flac") or clip.header_seconds is None:
        return
    if seconds < clip.header_seconds * (1 - _TRUNCATION_TOLERANCE) - 0.1:
        raise Invalid.at(where, f"the {clip.container} file is truncated: its header declares "
                                f"{clip.header_seconds:.2f} s, {seconds:.2f} s decode")


def load_audio(data: bytes, *, max_seconds: float,
               where: str = "audio") -> npt.NDArray[np.float32]:
    """Probe and decode raw file bytes (e.g. a multipart upload) to 16 kHz mono float32."""
    return decode(probe(data, max_seconds=max_seconds, where=where), where)


def too_long(where: str, seconds: float, max_seconds: float, *,
             decoded: bool = False) -> PayloadTooLarge:
    length = "runs past that once decoded" if decoded else f"is {seconds:.1f} s long"
    return PayloadTooLarge.at(
        where, f"the audio is over the limit of {max_seconds:g} s (AIAAS_MAX_AUDIO_SECONDS): "
               f"it {length}",
        limit_seconds=max_seconds,
    )


def _corrupt(where: str, container: str, exc: Exception) -> Invalid:
    reason = getattr(exc, "strerror", None) or str(exc)
    return Invalid.at(where, f"the {container} file is corrupt or truncated and cannot be "
                             f"decoded ({reason})")
