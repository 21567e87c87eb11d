"""Speech recognition: audio in, ``{"text", "language", "duration", "segments"}`` out.

An input item is the audio file's bytes base64-encoded (a ``data:audio/...;base64,`` prefix is
allowed), an object ``{"audio": base64, "language"?: code}``, or raw ``bytes`` (what a
multipart upload hands over; ``{"audio": bytes}`` too). WAV, FLAC, MP3 and Ogg (Vorbis/Opus) are
served. Each item's container and header are checked here, before it is queued
(``aiaas.tasks.audio.probe``: unknown bytes, corrupt headers and audio declared longer than
``AIAAS_MAX_AUDIO_SECONDS`` are refused naming ``inputs[i]``); the samples are decoded on the
model's worker thread, still bounded by that limit.

Parameters: ``language`` (a code such as ``"en"``; default: the item's, else the model's only
language, else detected), ``timestamps`` (true adds per-word ``words`` to each segment),
``beam_size`` (1-5, default ``DEFAULT_BEAM``: faster-whisper's own default, which its users
expect; 1 is greedy, about 1.4x faster and a little less accurate: ``bench/asr_accuracy.py``),
``temperature`` (0-1, default 0: the most likely
tokens; used as given, no fallback schedule) and ``prompt`` (text that conditions each chunk:
spellings, names). Stretches without speech give no segments.

Usage: ``audio_seconds`` per item (the decoded length).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.audio import AudioClip, b64_audio, probe
from aiaas.tasks.base import Limits, Task, item_error, item_field

if TYPE_CHECKING:
    from aiaas.formats import Detected

MAX_BEAM = 5
DEFAULT_BEAM = 5
MAX_PROMPT_CHARS = 2000
# CTranslate2 calls a Whisper model multilingual when its vocabulary has this many tokens.
MULTILINGUAL_VOCABULARY = 51865
PARAMETERS = ("language", "timestamps", "beam_size", "temperature", "prompt")
_BASE64 = {"type": "string", "contentEncoding": "base64",
           "description": "a WAV, FLAC, MP3 or Ogg audio file, base64-encoded"}


@dataclass(frozen=True, slots=True)
class SpeechItem:
    clip: AudioClip
    language: str | None


class SpeechRecognitionTask(Task):
    name = "speech-recognition"
    unit = "audio_seconds"
    # Whisper transcribes items one by one anyway, and a clip that only fails while decoding (on
    # the worker) must fail its own request, not others batched with it.
    shares_batches = False

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        multilingual = vocabulary_size(source) >= MULTILINGUAL_VOCABULARY
        if multilingual:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            languages = sorted(_LANGUAGE_CODES)
        else:
            languages = ["en"]
        return {"multilingual": multilingual, "languages": languages}

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        language = {"enum": config.get("languages", ["en"])}
        wrapped = {"type": "object", "properties": {"audio": _BASE64, "language": language},
                   "required": ["audio"], "additionalProperties": False}
        return {"type": "array", "items": {"oneOf": [_BASE64, wrapped]}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        word = {"type": "object", "properties": {
            "word": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"},
            "probability": {"type": "number"}}}
        segment = {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "start": {"type": "number"},
                           "end": {"type": "number"}, "text": {"type": "string"},
                           "words": {"type": "array", "items": word,
                                     "description": "only with parameters.timestamps = true"}},
            "required": ["id", "start", "end", "text"],
        }
        return {
            "type": "object",
            "properties": {"text": {"type": "string"}, "language": {"type": "string"},
                           "duration": {"type": "number", "description": "seconds of audio"},
                           "segments": {"type": "array", "items": segment}},
            "required": ["text", "language", "duration", "segments"],
        }

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        where = item_field(index)
        language: str | None = None
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"audio", "language"})
            if unknown:
                raise item_error(index, f"unknown field(s) {', '.join(unknown)}; "
                                        "known: audio, language")
            if "audio" not in item:
                raise item_error(index, "missing 'audio' (the audio file, base64-encoded)")
            if item.get("language") is not None:
                language = check_language(item["language"], config, f"{where}.language")
            where, item = f"{where}.audio", item["audio"]
        if isinstance(item, str):
            data = b64_audio(item, where)
        elif isinstance(item, bytes | bytearray):
            data = bytes(item)
        else:
            raise Invalid.at(where, f"expected the audio file as a base64 string, "
                                    f"got {type(item).__name__}", index=index)
        if not data:
            raise Invalid.at(where, "the audio is empty", index=index)
        return SpeechItem(probe(data, max_seconds=limits.max_audio_seconds, where=where), language)

    def check(self, inputs: Any, parameters: Any, config: dict[str, Any],
              limits: Limits) -> tuple[list[Any], dict[str, Any]]:
        items, params = super().check(inputs, parameters, config, limits)
        language = params.get("language")
        if language is not None:
            params["language"] = check_language(language, config, "parameters.language")
        return items, params

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        unknown = set(parameters) - set(PARAMETERS)
        if unknown:
            raise Invalid(f"unknown parameter(s) for {self.name}: {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(PARAMETERS)}", details={"field": "parameters"})
        timestamps = parameters.get("timestamps", False)
        if not isinstance(timestamps, bool):
            raise _parameter("timestamps", "must be true or false")
        beam = parameters.get("beam_size", DEFAULT_BEAM)
        if isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= MAX_BEAM:
            raise _parameter("beam_size", f"must be an integer from 1 to {MAX_BEAM}")
        temperature = parameters.get("temperature", 0.0)
        if (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                or not math.isfinite(temperature) or not 0 <= temperature <= 1):
            raise _parameter("temperature", "must be a number from 0 to 1")
        prompt = parameters.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or len(prompt) > MAX_PROMPT_CHARS):
            raise _parameter("prompt", f"must be a string of at most {MAX_PROMPT_CHARS} characters")
        language = parameters.get("language")
        if language is not None and not isinstance(language, str):
            raise _parameter("language", "must be a language code such as 'en'")
        return {"language": language, "timestamps": timestamps, "beam_size": beam,
                "temperature": float(temperature), "prompt": prompt or None}


def check_language(value: Any, config: dict[str, Any], where: str) -> str:
    """A language code the model knows, lower-cased; ``Invalid`` naming ``where`` otherwise."""
    languages: list[str] = config.get("languages") or ["en"]
    code = value.strip().lower() if isinstance(value, str) else None
    if code not in languages:
        known = "this model is English-only: 'en'" if languages == ["en"] else (
            f"known: {', '.join(languages[:12])}, ... ({len(languages)} codes)")
        raise Invalid.at(where, f"unsupported language {value!r}; {known}")
    return code


def vocabulary_size(source: Path) -> int:
    """Tokens in a CTranslate2 Whisper vocabulary (``vocabulary.txt``/``.json``, else the
    tokenizer's), without loading the model."""
    from aiaas.formats import read_json

    text_vocabulary = source / "vocabulary.txt"
    if text_vocabulary.is_file():
        with text_vocabulary.open(encoding="utf-8") as handle:
            return sum(1 for _ in handle)
    json_vocabulary = source / "vocabulary.json"
    if json_vocabulary.is_file():
        tokens = read_json(json_vocabulary, "vocabulary.json")
        return len(tokens) if isinstance(tokens, list) else 0
    try:
        tokenizer = json.loads((source / "tokenizer.json").read_text("utf-8"))
        ids = set(tokenizer["model"]["vocab"].values())
        ids.update(token["id"] for token in tokenizer.get("added_tokens", []))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Invalid(f"cannot read the Whisper vocabulary from tokenizer.json: {exc}") from exc
    return len(ids)


def _parameter(name: str, message: str) -> Invalid:
    return Invalid.at(f"parameters.{name}", message, naming="subject")
