"""Throughput cost of the durable usage journal: predictions/s with and without it, in one run.

    python bench/usage_cost.py [--rounds 6] [--seconds 8] [--concurrency 8]

Two real aiaas servers (uvicorn subprocesses, built-in models off, the breast-cancer diagnosis
model registered and loaded) on two data dirs, ``AIAAS_USAGE_JOURNAL=true`` and ``=false``.
Each round drives each server in turn (the order alternates between rounds, so both see the
same background load) with ``--concurrency`` clients sending one-row predictions for
``--seconds``; throughput = 2xx answers / second, the median over rounds per mode. ``cost`` =
1 - journal / no journal. Also timed in this process: one journal append (a ``write`` of an
encoded row) with and without ``fsync``, the price of surviving a machine crash as well as a
process kill. Prints JSON, also written to bench/results/usage_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results" / "usage_cost.json"
DIAGNOSE = "/api/v1/models/breast-cancer-diagnosis/predict"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, journal: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    from aiaas.auth.principal import Principal
    from aiaas.builtin import DIAGNOSIS, ensure_builtins
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data_dir, builtin_models=False))
    ensure_builtins(services.registry, only={DIAGNOSIS})
    key = services.keys.create(Principal.system(), name="bench", tenant="default").secret
    services.db.dispose()
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_USAGE_JOURNAL": str(journal).lower(),
           "AIAAS_PRELOAD": DIAGNOSIS}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "aiaas.api.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("a server did not become ready in 120 s")


async def drive(url: str, key: str, seconds: float, concurrency: int) -> float:
    """2xx answers per second from ``concurrency`` clients, each one request at a time."""
    row = {"inputs": [[float(i % 7) + 1.0 for i in range(30)]]}
    answered = 0
    stop = time.monotonic() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal answered
        while time.monotonic() < stop:
            response = await http.post(DIAGNOSE, json=row)
            answered += response.is_success

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return answered / seconds


def append_cost_us(count: int = 5000) -> dict[str, float]:
    """Microseconds per journal append, as ``UsageService.record`` writes it, +- fsync."""
    from aiaas.tasks.units import Units
    from aiaas.usage.journal import Journal, encode
    from aiaas.usage.service import UsageEntry, _fields

    row = _fields(UsageEntry(tenant="default", key_id="k" * 16, model="breast-cancer-diagnosis",
                             version=1, surface="native", latency_ms=1.2, status="ok",
                             units=Units(items=1)))
    result = {}
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        journal = Journal.open(Path(tmp))
        for name, sync in (("append_us", False), ("append_fsync_us", True)):
            n = count if not sync else count // 10
            started = time.perf_counter()
            for _ in range(n):
                journal.append(encode(row))
                if sync:
                    os.fsync(journal._fd)
            result[name] = round((time.perf_counter() - started) / n * 1e6, 1)
        journal.close(consumed=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"journal": [], "no_journal": []}
    with tempfile.TemporaryDirectory() as tmp:
        servers = {mode: start_server(Path(tmp) / mode, mode == "journal") for mode in runs}
        try:
            for _, url, key in servers.values():  # warm: model loaded, connections made
                asyncio.run(drive(url, key, 2.0, args.concurrency))
            for round_ in range(args.rounds):
                order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
                for mode in order:
                    _, url, key = servers[mode]
                    runs[mode].append(round(asyncio.run(
                        drive(url, key, args.seconds, args.concurrency)), 1))
                    print(f"round {round_ + 1} {mode}: {runs[mode][-1]}/s", file=sys.stderr)
        finally:
            for server, _, _ in servers.values():
                server.terminate()
                server.wait(timeout=60)
    medians = {mode: statistics.median(values) for mode, values in runs.items()}
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/usage_cost.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "concurrency": args.concurrency, "seconds": args.seconds, "runs_per_s": runs,
        "median_per_s": medians,
        "ratio": round(medians["journal"] / medians["no_journal"], 4),
        "cost": round(1 - medians["journal"] / medians["no_journal"], 4),
        **append_cost_us(),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
