"""Word error rate and real-time factor of speech recognition: served vs raw faster-whisper, at
faster-whisper's default decoding (beam 5) and greedy (beam 1), on the same files.

    python bench/asr_accuracy.py                    # espeak-ng clips of SENTENCES, two voices
    python bench/asr_accuracy.py --data DIR         # your own: DIR/*.wav, each with a .txt

Configurations, each over every clip, one clip at a time:
  raw-beam5    ``WhisperModel(tiny.en, int8).transcribe(path, language="en")``: faster-whisper
               exactly as its README calls it (its defaults: beam 5, temperature fallback);
  raw-beam1    the same with ``beam_size=1`` (greedy);
  served-beam5 ``POST /api/v1/models/whisper-tiny-en/predict`` with ``beam_size`` 5, to a real
               aiaas server (uvicorn subprocess, the model preloaded), timed at the client;
  served-beam1 the same with ``beam_size`` 1;
  served-default  no ``beam_size``: what a caller gets without asking.
WER is jiwer's, over all clips (the words of every reference against every hypothesis), after
lower-casing and dropping punctuation on both sides. RTF = audio seconds / processing seconds
(higher is faster). The built-in sentences were written for this bench and are not used by
tests or tuning. Prints a table and writes bench/results/asr_accuracy.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from asr_rtf import raw_model, start_server

SENTENCES = (
    "The nurse checked the patient's temperature twice during the night shift.",
    "Traffic on the northern bridge is heavy until the road works finish in spring.",
    "Please transfer two hundred euros to my savings account before the end of the month.",
    "The committee will review the budget proposal at its next meeting on Thursday.",
    "Children should wear bright jackets when they cycle to school in the dark.",
    "Our pharmacy closes early on Sundays, so order your prescription a day ahead.",
    "The train to the airport leaves from platform four every fifteen minutes.",
    "A strong wind knocked over several trees in the park near the river.",
    "The bank asked me to confirm the payment with a code sent to my phone.",
    "Doctors recommend drinking plenty of water and resting for a few days.",
    "The city plans to add more bus lanes and safer crossings next year.",
    "Her loan application was approved after the manager checked the documents.",
)
VOICES = (("en-us", 150), ("en", 175))
MODEL = "whisper-tiny-en"
RESULTS = Path(__file__).parent / "results" / "asr_accuracy.json"


def synthesise(folder: Path) -> list[tuple[Path, str]]:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng), or pass --data DIR")
    clips = []
    for i, text in enumerate(SENTENCES):
        voice, speed = VOICES[i % len(VOICES)]
        path = folder / f"clip{i:02d}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                       check=True)
        clips.append((path, text))
    return clips


def from_folder(folder: Path) -> list[tuple[Path, str]]:
    clips = [(wav, wav.with_suffix(".txt").read_text().strip())
             for wav in sorted(folder.glob("*.wav")) if wav.with_suffix(".txt").exists()]
    if not clips:
        sys.exit(f"no .wav files with a .txt reference beside them in {folder}")
    return clips


def seconds_of(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).replace("'", "").split())


def raw_run(model: Any, clips: list[tuple[Path, str]], beam: int | None) -> tuple[list[str], float]:
    texts, spent = [], 0.0
    for path, _ in clips:
        started = time.perf_counter()
        options = {} if beam is None else {"beam_size": beam}
        segments, _ = model.transcribe(str(path), language="en", **options)
        texts.append("".join(s.text for s in segments).strip())
        spent += time.perf_counter() - started
    return texts, spent


def served_run(client: httpx.Client, clips: list[tuple[Path, str]],
               beam: int | None) -> tuple[list[str], float]:
    texts, spent = [], 0.0
    for path, _ in clips:
        body: dict[str, Any] = {"inputs": [base64.b64encode(path.read_bytes()).decode()]}
        if beam is not None:
            body["parameters"] = {"beam_size": beam}
        started = time.perf_counter()
        response = client.post(f"/api/v1/models/{MODEL}/predict", json=body)
        spent += time.perf_counter() - started
        response.raise_for_status()
        texts.append(str(response.json()["outputs"][0]["text"]))
    return texts, spent


def main() -> None:
    import jiwer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a folder of .wav files with .txt references")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiaas-asr-"))
    clips = from_folder(args.data) if args.data else synthesise(work)
    audio_s = sum(seconds_of(path) for path, _ in clips)
    references = [normalise(text) for _, text in clips]
    model = raw_model("int8", args.threads)
    raw_run(model, clips[:1], 1)  # warm
    runs: dict[str, tuple[list[str], float]] = {}
    for beam in (5, 1):
        runs[f"raw-beam{beam}"] = raw_run(model, clips, None if beam == 5 else 1)
    server, url, key = start_server(work / "data")
    try:
        with httpx.Client(base_url=url, timeout=300,
                          headers={"Authorization": f"Bearer {key}"}) as client:
            served_run(client, clips[:1], 1)  # warm
            for name, beam in (("served-beam5", 5), ("served-beam1", 1),
                               ("served-default", None)):
                runs[name] = served_run(client, clips, beam)
    finally:
        server.terminate()
        server.wait(timeout=30)
    rows = {}
    for name, (texts, spent) in runs.items():
        rows[name] = {"wer": round(jiwer.wer(references, [normalise(t) for t in texts]), 4),
                      "rtf": round(audio_s / spent, 2), "seconds": round(spent, 2)}
    result = {"clips": len(clips), "audio_seconds": round(audio_s, 1),
              "data": str(args.data) if args.data else "espeak-ng SENTENCES", "runs": rows,
              "served_over_raw_rtf": {b: round(rows[f"served-beam{b}"]["rtf"]
                                               / rows[f"raw-beam{b}"]["rtf"], 2) for b in (5, 1)},
              "hypotheses": {name: texts for name, (texts, _) in runs.items()}}
    print(f"{len(clips)} clips, {audio_s:.1f} s of audio")
    print(f"{'configuration':16s} {'WER':>7s} {'RTF':>7s}")
    for name, row in rows.items():
        print(f"{name:16s} {row['wer']:7.2%} {row['rtf']:7.2f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
