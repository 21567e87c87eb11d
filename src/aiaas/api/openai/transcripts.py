"""A speech task's output (``{"text", "language", "duration", "segments": [{"id", "start",
"end", "text"}]}``) in the response formats of ``/v1/audio/transcriptions``."""

from __future__ import annotations

from typing import Any


def format_transcript(output: dict[str, Any], response_format: str) -> dict[str, Any] | str:
    """``json`` and ``verbose_json`` give a dict; ``text``, ``srt`` and ``vtt`` give text."""
    text = str(output.get("text", "")).strip()
    segments = [segment for segment in output.get("segments") or [] if isinstance(segment, dict)]
    if response_format == "json":
        return {"text": text}
    if response_format == "verbose_json":
        verbose: dict[str, Any] = {
            "task": "transcribe", "language": output.get("language"),
            "duration": output.get("duration"), "text": text,
            "segments": [{key: value for key, value in segment.items() if key != "words"}
                         for segment in segments],
        }
        if any("words" in segment for segment in segments):
            verbose["words"] = [
                {"word": str(w.get("word", "")).strip(), "start": w.get("start"), "end": w.get("end")}
                for segment in segments for w in segment.get("words") or [] if isinstance(w, dict)
            ]
        return verbose
    if response_format == "text":
        return text + "\n"
    if response_format == "srt":
        return "".join(
            f"{index}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n"
            f"{str(s.get('text', '')).strip()}\n\n"
            for index, s in enumerate(segments, start=1)
        )
    if response_format == "vtt":
        return "WEBVTT\n\n" + "".join(
            f"{timestamp(s['start'], '.')} --> {timestamp(s['end'], '.')}\n"
            f"{str(s.get('text', '')).strip()}\n\n"
            for s in segments
        )
    raise ValueError(f"unknown response format {response_format!r}")


def timestamp(seconds: Any, separator: str) -> str:
    """``HH:MM:SS<separator>mmm`` (SRT uses a comma, WebVTT a dot)."""
    millis = max(0, round(float(seconds) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
