"""Predictions while a model trains: embedding latency against ``aiaas serve`` with its embedded
worker, measured before and during a training job (issue 4: p99 under 1 s while a job runs).

    python bench/training_load.py --task image-classification --dataset builtin:digits
    python bench/training_load.py --task tabular-classification --dataset builtin:breast_cancer

Clients send one sentence per request (``--clients`` concurrent loops, each pausing
``--pause-ms`` between calls); latencies are split by whether the job was running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serving import _create_key, _wait_ready, free_port, sentences  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


async def run(url: str, key: str, args: argparse.Namespace) -> dict[str, Any]:
    texts = sentences(512)
    headers = {"Authorization": f"Bearer {key}"}
    phases: dict[str, list[float]] = {"before": [], "during": []}
    errors = 0
    phase = "before"
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
        async def clientloop(offset: int) -> None:
            nonlocal errors
            i = offset
            while not stop.is_set():
                t0 = time.perf_counter()
                response = await client.post("/api/v1/models/all-minilm-l6-v2/predict",
                                             json={"inputs": [texts[i % len(texts)]]})
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code == 200:
                    phases[phase].append(elapsed)
                else:
                    errors += 1
                i += args.clients
                await asyncio.sleep(args.pause_ms / 1000)

        loops = [asyncio.create_task(clientloop(n)) for n in range(args.clients)]
        await asyncio.sleep(args.warm_s)
        phase = "during"
        started = time.perf_counter()
        job = (await client.post("/api/v1/jobs", json={
            "task": args.task, "dataset": args.dataset, "name": "bench-model",
            "params": json.loads(args.params)})).json()
        while True:
            await asyncio.sleep(0.5)
            job = (await client.get(f"/api/v1/jobs/{job['id']}")).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
        training_s = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*loops)
    return {
        "job": {"status": job["status"], "seconds": round(training_s, 1), "error": job.get("error"),
                "metrics": {k: v for k, v in job["metrics"].items() if isinstance(v, float)}},
        "errors": errors,
        **{name: {"requests": len(values), "p50_ms": pct(values, 0.5), "p95_ms": pct(values, 0.95),
                  "p99_ms": pct(values, 0.99), "max_ms": max(values, default=float("nan"))}
           for name, values in phases.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="image-classification")
    parser.add_argument("--dataset", default="builtin:digits")
    parser.add_argument("--params", default="{}", help="Job params as JSON.")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pause-ms", type=float, default=20)
    parser.add_argument("--warm-s", type=float, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiaas-trainload-"))
    data = work / "data"
    key = _create_key(data)
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data), "AIAAS_LOG_LEVEL": "warning",
           "AIAAS_PRELOAD": "all-minilm-l6-v2"}
    log = work / "server.log"
    process = subprocess.Popen([str(Path(sys.executable).parent / "aiaas"), "serve", "--port",
                                str(port)], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url + "/readyz", process, log)
        result = asyncio.run(run(url, key, args))
    finally:
        process.terminate()
        process.wait(30)
    result |= {"task": args.task, "dataset": args.dataset, "clients": args.clients,
               "pause_ms": args.pause_ms, "load_before": os.getloadavg()}
    print(json.dumps(result, indent=2))
    out = args.out or HERE / "results" / f"training-load-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
