"""Data-parallel training on Ray: one worker vs two, same data and seed, in one run.

A local Ray cluster (one node, ``--cpus`` logical CPUs) and an aiaas server on it; each job
trains with ``params.resources.cpus = 1`` per worker, first ``workers: 1`` then ``workers: 2``.
Reports the test macro-F1 of each (the split the trainer holds out: never trained or tuned on)
and the wall time. Default: the text fine-tune of the built-in all-MiniLM-L6-v2 on the built-in
sentiment reviews; ``--task digits`` runs the image CNN instead.

    python bench/ray_training.py                 # text fine-tune, 2 epochs
    python bench/ray_training.py --task digits --epochs 4

Needs aiaas with the ray extra in the running interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ray_serving import start

HERE = Path(__file__).resolve().parent
JOBS = {
    "text": {"task": "text-classification", "dataset": "builtin:sentiment",
             "params": {"method": "fine_tune", "base_model": "all-minilm-l6-v2", "seed": 0}},
    "digits": {"task": "image-classification", "dataset": "builtin:digits",
               "params": {"seed": 0}},
}


def run_job(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/jobs", json=body)
    response.raise_for_status()
    job_id = response.json()["id"]
    started = time.perf_counter()
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    return {"seconds": round(time.perf_counter() - started, 1),
            "f1_macro": job["metrics"]["f1_macro"], "accuracy": job["metrics"]["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=sorted(JOBS), default="text")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="Logical CPUs of the Ray node.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    spec = JOBS[args.task]
    report: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "task": args.task,
                              "epochs": args.epochs,
                              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                          "load_before": os.getloadavg()}, "runs": {}}
    work = Path(tempfile.mkdtemp(prefix="aiaas-ray-train-bench-"))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus,
                                                            "include_dashboard": False})
    try:
        server = start(work, "ray-train", AIAAS_RAY_ADDRESS=str(cluster.address),
                       AIAAS_EMBEDDED_WORKER="true", AIAAS_PRELOAD="")
        try:
            with httpx.Client(base_url=server.url, headers=server.headers, timeout=60) as client:
                for workers in (1, 2):
                    params = {**spec["params"], "epochs": args.epochs,
                              "resources": {"cpus": 1}, "workers": workers}
                    row = run_job(client, {**spec, "name": f"bench-{args.task}-{workers}",
                                           "params": params})
                    report["runs"][str(workers)] = row
                    print(f"workers={workers}  macro-F1 {row['f1_macro']:.4f}  accuracy "
                          f"{row['accuracy']:.4f}  {row['seconds']:.1f} s", flush=True)
        finally:
            server.stop()
    finally:
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    one, two = report["runs"]["1"], report["runs"]["2"]
    report["f1_macro_difference"] = round(two["f1_macro"] - one["f1_macro"], 4)
    report["speedup"] = round(one["seconds"] / two["seconds"], 2)
    print(f"macro-F1 two - one: {report['f1_macro_difference']:+.4f}; "
          f"wall time one / two: {report['speedup']:.2f}x")
    out = args.out or HERE / "results" / f"ray-training-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
