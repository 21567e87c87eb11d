"""Embeddings through Ray Serve replicas vs the local path, on one node, in one run.

The same aiaas server and data (SQLite, the built-in all-minilm-l6-v2), the same wrk load as
``bench/serving.py`` (one sentence of 8-24 words per request, 32 clients), four ways:

- ``local-1``: models in the server process, one torch/ONNX thread;
- ``ray-1``: ``AIAAS_RAY_ADDRESS`` set, one replica with one CPU (so one thread);
- ``ray-2``: two replicas with one CPU each;
- ``local-2``: models in the server process, two threads.

Prints req/s and p50/p95/p99 for each and the ratios ray-1 / local-1 (the cost of the Ray
hop at equal compute), ray-2 / local-2 and ray-2 / ray-1 (what a second replica buys), and
writes them as JSON under bench/results/. On a two-core machine the API server, the replicas
and wrk share the same cores: a second replica can only add what the first leaves idle.

    python bench/ray_serving.py --seconds 15

Needs: wrk (apt-get install wrk) and aiaas with the ray extra in the running interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from serving import Server, _create_key, _wait_ready, free_port, sentences, wrk

HERE = Path(__file__).resolve().parent
MODEL = "all-minilm-l6-v2"


def start(work: Path, name: str, **env_extra: str) -> Server:
    data = work / f"{name}-data"
    env = {**os.environ, "AIAAS_DATA_DIR": str(data), "AIAAS_EMBEDDED_WORKER": "false",
           "AIAAS_LOG_LEVEL": "warning", "AIAAS_PRELOAD": MODEL, **env_extra}
    key = _create_key(data)
    port = free_port()
    log = work / f"{name}.log"
    process = subprocess.Popen([str(Path(sys.executable).parent / "aiaas"), "serve", "--port",
                                str(port)], env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/readyz", process, log, seconds=600)
    return Server(name, url, f"/api/v1/models/{MODEL}/predict", lambda text: {"inputs": [text]},
                  process, {"Authorization": f"Bearer {key}"})


def set_replicas(server: Server, replicas: int) -> None:
    """One CPU per replica; waits until every replica runs and has answered."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=600) as client:
        client.patch(f"/api/v1/models/{MODEL}/versions/1",
                     json={"replicas": replicas, "resources": {"cpus": 1}}).raise_for_status()
        client.post(server.path, json={"inputs": ["warm up"]}).raise_for_status()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            cluster = client.get("/api/v1/runtime").json()["cluster"]
            running = [r for d in cluster["deployments"] if d["app"].endswith(f"{MODEL}-v1")
                       for r in d["replicas"] if r["state"] == "RUNNING"]
            if len(running) == replicas:
                return
            time.sleep(1)
    raise RuntimeError(f"{replicas} replicas did not start")


def served_per_replica(server: Server) -> list[int]:
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
        cluster = client.get("/api/v1/runtime").json()["cluster"]
    return [r.get("served", 0) for d in cluster["deployments"] if d["app"].endswith(f"{MODEL}-v1")
            for r in d["replicas"] if r["state"] == "RUNNING"]


def measure(server: Server, texts: list[str], args: argparse.Namespace, work: Path) -> dict[str, Any]:
    wrk(server, texts, args.clients, 3, work)
    row = wrk(server, texts, args.clients, args.seconds, work)
    print(f"{server.name:8s} c={args.clients:<3d} {row['rps']:7.1f} req/s  p50 {row['p50_ms']:7.1f}"
          f"  p95 {row['p95_ms']:7.1f}  p99 {row['p99_ms']:7.1f} ms  errors {row['errors']}",
          flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    from ray.cluster_utils import Cluster

    texts = sentences(2048, seed=7)
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "seconds": args.seconds,
                              "clients": args.clients,
                              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "load_before": os.getloadavg()}, "runs": {}}
    work = Path(tempfile.mkdtemp(prefix="aiaas-ray-bench-"))
    try:
        for name, threads in (("local-1", 1), ("local-2", 2)):
            server = start(work, name, AIAAS_TORCH_THREADS=str(threads),
                           AIAAS_ONNX_LANES=str(threads))
            try:
                report["runs"][name] = measure(server, texts, args, work)
            finally:
                server.stop()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2,
                                                                "include_dashboard": False})
        try:
            server = start(work, "ray", AIAAS_RAY_ADDRESS=str(cluster.address))
            try:
                for replicas in (1, 2):
                    set_replicas(server, replicas)
                    before = served_per_replica(server)
                    server.name = f"ray-{replicas}"
                    report["runs"][server.name] = measure(server, texts, args, work)
                    report["runs"][server.name]["served_per_replica"] = served_per_replica(server)
                    report["runs"][server.name]["served_before"] = before
            finally:
                server.stop()
        finally:
            cluster.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = report["runs"]
    report["ratios"] = {
        "ray-1 / local-1": runs["ray-1"]["rps"] / runs["local-1"]["rps"],
        "ray-2 / local-2": runs["ray-2"]["rps"] / runs["local-2"]["rps"],
        "ray-2 / ray-1": runs["ray-2"]["rps"] / runs["ray-1"]["rps"],
    }
    for label, ratio in report["ratios"].items():
        print(f"{label:16s} {ratio:.2f}x")
    print("calls served per replica in the 2-replica run:", runs["ray-2"]["served_per_replica"])
    out = args.out or HERE / "results" / f"ray-serving-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
