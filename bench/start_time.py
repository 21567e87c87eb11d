"""Start time of ``aiaas serve`` on one machine: this checkout against an earlier commit.

Issue 17 added Ray scale-out behind ``AIAAS_RAY_ADDRESS``; unset, a server must start as fast
as before it existed. This times, from process start to the first 200 of ``/readyz``, servers
started from this checkout's ``src/`` and from a ``git worktree`` of ``--base`` (default: the
last commit before the cluster package), on the embedded default (SQLite, built-in models, no
preload), with the same interpreter and packages, alternating one start of each per round so
drift hits both alike. Each start gets a data dir that an untimed start of the same tree has
already initialised (built-ins registered, master key written), so what is timed is a restart.

    python bench/start_time.py --rounds 7

Prints the median and spread per tree and the ratio, and writes them as JSON under
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BEFORE_CLUSTER = "5725116"
"""The last commit before ``src/aiaas/cluster`` (issue 17) landed."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_once(src: Path, data: Path, log: Path) -> float:
    """Seconds from spawning ``python -m aiaas serve`` (with ``src`` first on the path) to its
    first ready answer; the server is stopped afterwards."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src), "AIAAS_DATA_DIR": str(data),
           "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_LOG_LEVEL": "warning"}
    env.pop("AIAAS_RAY_ADDRESS", None)
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "aiaas", "serve", "--port", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if time.perf_counter() - started > 300:
                raise RuntimeError(f"server not ready in 300 s; see {log}")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", default=BEFORE_CLUSTER, help="the commit to compare with")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aiaas-start-"))
    base_tree = work / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree),
                    args.base], check=True, capture_output=True)
    trees = {"this checkout": ROOT / "src", f"base {args.base}": base_tree / "src"}
    times: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for name, src in trees.items():  # untimed: the first start registers the built-ins
            start_once(src, work / f"{name.replace(' ', '-')}-data", work / "servers.log")
        for round_ in range(args.rounds):
            for name, src in trees.items():
                seconds = start_once(src, work / f"{name.replace(' ', '-')}-data",
                                     work / "servers.log")
                times[name].append(seconds)
                print(f"round {round_ + 1}: {name}: {seconds:.2f} s", flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                       check=False, capture_output=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    here, base = medians.values()
    for name, values in times.items():
        print(f"{name}: median {medians[name]:.2f} s (min {min(values):.2f}, "
              f"max {max(values):.2f}) over {len(values)} starts")
    print(f"this checkout / base: {here / base:.3f}")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (results / f"start-time-{stamp}.json").write_text(json.dumps({
        "when": stamp, "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "base": args.base, "seconds": times, "medians": medians,
        "ratio": here / base}, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
