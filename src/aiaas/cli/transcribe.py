"""``aiaas transcribe MODEL FILE``: speech to text, as plain text, JSON or subtitles."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aiaas.cli.common import ApiKeyOption, UrlOption, client
from aiaas.cli.output import err, line, print_json
from aiaas.client import Transcription


class Format(StrEnum):
    text = "text"
    json = "json"
    srt = "srt"
    vtt = "vtt"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:06.3f}"


def render(transcript: Transcription, fmt: Format, *, timestamps: bool) -> None:
    """``text``: the transcript (one timed line per segment with ``--timestamps``); ``json``:
    everything the model returned; ``srt``/``vtt``: subtitles from the segments."""
    if fmt is Format.json:
        print_json(transcript)
    elif fmt is Format.srt:
        line(transcript.to_srt().rstrip("\n"))
    elif fmt is Format.vtt:
        line(transcript.to_vtt().rstrip("\n"))
    elif timestamps:
        for segment in transcript.segments:
            line(f"[{_clock(segment.start)} --> {_clock(segment.end)}] {segment.text.strip()}")
    else:
        line(transcript.text.strip())


def transcribe(
    model: Annotated[str, typer.Argument(help="A speech-recognition model, e.g. whisper-tiny-en.")],
    file: Annotated[Path, typer.Argument(help="The audio: WAV, FLAC, MP3 or Ogg.", exists=True,
                                         dir_okay=False, readable=True)],
    language: Annotated[str | None, typer.Option(
        help="Language code such as 'en' (default: detected, or the model's only one).")] = None,
    timestamps: Annotated[bool, typer.Option(
        "--timestamps", help="Word times in JSON; timed segment lines in text.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    beam_size: Annotated[int | None, typer.Option(
        "--beam-size", min=1, max=5,
        help="Beam search width, 1-5 (default 5, as faster-whisper; 1 is greedy, faster).")
    ] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Transcribe an audio file (uploaded as is; a spinner runs on stderr meanwhile)."""
    with client(url, api_key) as api, err.status(f"uploading and transcribing {file.name}…"):
        transcript = api.transcribe(model, file, language=language, timestamps=timestamps,
                                    beam_size=beam_size)
    render(transcript, Format.json if as_json else fmt, timestamps=timestamps)
