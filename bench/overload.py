"""Goodput under overload: answered (2xx) embedding calls per second at 64, 256, 512 and 1,024
connections, and the server's memory before the load and after it has been idle.

One ``aiaas serve`` with the built-in ``all-minilm-l6-v2`` preloaded, one sentence per request,
wrk as the load (``bench/serving.py``'s script and helpers). Past ``AIAAS_MAX_IN_FLIGHT`` requests
wait up to ``AIAAS_IN_FLIGHT_WAIT_S`` for a slot and are then refused with 503 before their
bodies are read (wrk counts them as errors), so the answered rate at 512 and 1,024
connections should stay within 0.9x of the best one; the resident memory (RSS) after
``--idle`` seconds should be within 5 % of the level measured after a short warm-up, before the
load. That level is read after a warm-up at 64 connections: full batches grow ONNX Runtime's
memory arena once, to the size of the largest batch, and it keeps it (a cache, not growth
under load); the level after a lighter warm-up is reported too. wrk is one client address
holding up to 1,024 connections, so the per-client connection cap is lifted for the run
(``AIAAS_MAX_CONNECTIONS_PER_CLIENT=0``).

    python bench/overload.py                        # ~2 minutes plus the first ONNX export
    python bench/overload.py --max-in-flight 0      # without the in-flight bound, to compare
    python bench/overload.py --seconds 5 --connections 64 1024

Needs: wrk (apt-get install wrk) and aiaas installed in the running interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import HERE, sentences, start_aiaas, wrk


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="Length of each level.")
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 256, 512, 1024])
    parser.add_argument("--threads", type=int, default=2, help="Model threads (AIAAS_TORCH_THREADS).")
    parser.add_argument("--max-in-flight", type=int, default=None,
                        help="AIAAS_MAX_IN_FLIGHT for the server (default: the server's own).")
    parser.add_argument("--idle", type=float, default=30.0, help="Idle seconds before memory is read.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    os.environ["AIAAS_MAX_CONNECTIONS_PER_CLIENT"] = "0"
    if args.max_in_flight is not None:
        os.environ["AIAAS_MAX_IN_FLIGHT"] = str(args.max_in_flight)

    texts = sentences(2048)
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(), "seconds": args.seconds,
        "threads": args.threads, "max_in_flight": os.environ.get("AIAAS_MAX_IN_FLIGHT", "default"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_before": os.getloadavg()}, "levels": {}}
    work = Path(tempfile.mkdtemp(prefix="aiaas-overload-"))
    server = start_aiaas(work, args.threads, "auto")
    try:
        wrk(server, texts, 8, 3, work)
        time.sleep(2)
        report["rss_mb_light_warmup"] = rss_mb(server.process.pid)
        wrk(server, texts, 64, 5, work)  # full batches: ONNX Runtime's arena reaches its size
        time.sleep(2)
        report["rss_mb_before"] = rss_mb(server.process.pid)
        for connections in args.connections:
            row = wrk(server, texts, connections, args.seconds, work)
            row["refused_or_failed_per_s"] = row["errors"] / row["seconds"]
            report["levels"][str(connections)] = row
            print(f"c={connections:<5d} answered {row['rps']:7.1f}/s  refused/failed "
                  f"{row['refused_or_failed_per_s']:8.1f}/s  p50 {row['p50_ms']:8.1f}  "
                  f"p99 {row['p99_ms']:8.1f} ms", flush=True)
        report["rss_mb_peak_after_load"] = rss_mb(server.process.pid)
        time.sleep(args.idle)
        report["rss_mb_after_idle"] = rss_mb(server.process.pid)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    best = max(row["rps"] for row in report["levels"].values())
    report["goodput_vs_best"] = {c: round(row["rps"] / best, 3)
                                 for c, row in report["levels"].items()}
    report["rss_change_pct"] = round(
        100 * (report["rss_mb_after_idle"] / report["rss_mb_before"] - 1), 2)
    report["load_after"] = os.getloadavg()
    print("goodput / best:", json.dumps(report["goodput_vs_best"]))
    print(f"RSS {report['rss_mb_light_warmup']:.0f} MB after a light warm-up, "
          f"{report['rss_mb_before']:.0f} MB before, {report['rss_mb_peak_after_load']:.0f} MB "
          f"after the load, {report['rss_mb_after_idle']:.0f} MB after {args.idle:.0f} s idle "
          f"({report['rss_change_pct']:+.1f} %)")
    out = args.out or HERE / "results" / f"overload-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
