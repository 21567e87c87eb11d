"""Whisper in CTranslate2 format, served by faster-whisper, offline.

Items arrive probed (``aiaas.tasks.speech.SpeechItem``); each is decoded here, on the
model's worker thread, and transcribed on its own (the task makes every request its own batch,
so a clip that fails to decode fails only the request that sent it, naming its ``inputs[i]``).

Transcription goes through faster-whisper's ``BatchedInferencePipeline``: Silero VAD (bundled
with faster-whisper, one thread) cuts the clip into speech chunks of at most 30 s, which are
encoded and decoded together, with timestamp tokens kept so segments carry real start/end
times. Measured against ``WhisperModel.transcribe`` on this model (2 cores, bench/asr_rtf.py):
the same segments, as fast up to 30 s of audio, 2.2x faster on 87 s. Silence and non-speech
yield no segments (no hallucinated text). ``temperature`` is used as given: no fallback
re-decoding, so the work per request is bounded by the audio length.

On the CPU the model runs in int8 (CTranslate2 quantises the float weights at load time; 1.8x
faster than float32 at the same word error rate on the test speech, ``bench/asr_rtf.py
--matrix``) with one CTranslate2 thread per core the process may use (``AIAAS_TORCH_THREADS``
overrides it; the library's own default of 4 oversubscribes small machines). On a GPU it runs
in float16.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from aiaas.runtime.backends.base import Backend
from aiaas.tasks.audio import SAMPLE_RATE, decode
from aiaas.tasks.base import Prediction, about_item, item_field
from aiaas.tasks.speech import DEFAULT_BEAM

CPU_COMPUTE_TYPE = "int8"
GPU_COMPUTE_TYPE = "float16"
CHUNKS_PER_BATCH = 8


def default_threads() -> int:
    """The cores this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class WhisperBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads or default_threads()
        self.model: Any = None
        self.pipeline: Any = None
        self.device = "cpu"

    def load(self) -> None:
        import ctranslate2
        from faster_whisper import BatchedInferencePipeline, WhisperModel
        from faster_whisper.vad import get_vad_model

        # faster-whisper logs every call at INFO ("Processing audio with duration ...").
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        self.device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        self.model = WhisperModel(
            str(self.path),
            device=self.device,
            compute_type=GPU_COMPUTE_TYPE if self.device == "cuda" else CPU_COMPUTE_TYPE,
            cpu_threads=self.threads,
            num_workers=1,
            local_files_only=True,
        )
        self.pipeline = BatchedInferencePipeline(self.model)
        get_vad_model()  # loaded once per process; here rather than on the first request

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        return [self._transcribe(item, index, parameters) for index, item in enumerate(items)]

    def _transcribe(self, item: Any, index: int, parameters: dict[str, Any]) -> Prediction:
        with about_item(index):
            audio = decode(item.clip, item_field(index))
        multilingual = bool(self.config.get("multilingual", False))
        language = item.language or parameters.get("language") or (
            None if multilingual else "en")
        beam = int(parameters.get("beam_size", DEFAULT_BEAM))
        words = bool(parameters.get("timestamps", False))
        segments, info = self.pipeline.transcribe(
            audio,
            language=language,
            beam_size=beam,
            best_of=beam,
            temperature=float(parameters.get("temperature", 0.0)),
            initial_prompt=parameters.get("prompt"),
            word_timestamps=words,
            without_timestamps=False,
            vad_filter=True,
            batch_size=CHUNKS_PER_BATCH,
        )
        collected = list(segments)
        output: dict[str, Any] = {
            "text": "".join(segment.text for segment in collected).strip(),
            "language": info.language if multilingual else (language or "en"),
            "duration": round(audio.size / SAMPLE_RATE, 3),
            "segments": [_segment(number, segment, words)
                         for number, segment in enumerate(collected)],
        }
        return Prediction(output, audio_seconds=audio.size / SAMPLE_RATE)

    def unload(self) -> None:
        self.pipeline = None
        self.model = None


def _segment(number: int, segment: Any, words: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"id": number, "start": round(float(segment.start), 3),
                              "end": round(float(segment.end), 3), "text": segment.text.strip()}
    if words:
        result["words"] = [
            {"word": word.word.strip(), "start": round(float(word.start), 3),
             "end": round(float(word.end), 3), "probability": round(float(word.probability), 4)}
            for word in segment.words or []
        ]
    return result
