"""Open job event streams against ``aiaas serve``: the server's CPU while they sit idle, and how
long an event stored by another process takes to reach all of them (issue 11: 150 polling
streams took 45% of a core).

    python bench/job_streams.py --streams 150 --seconds 10
    python bench/job_streams.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The job stays queued (no worker); this script then claims it as a worker in another process
would, and times the ``running`` event's arrival on every stream.
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
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serving import _create_key, _wait_ready, free_port  # noqa: E402


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def next_status(lines: Any) -> str:
    async for line in lines:
        if line.startswith("data: "):
            return str(json.loads(line[6:]).get("status"))
    return "ended"


async def run(url: str, key: str, pid: int, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    from aiaas.config import Settings
    from aiaas.services import Services
    from aiaas.training.worker import Worker

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=args.streams + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        job = (await client.post("/api/v1/jobs", json={
            "task": "tabular-classification", "dataset": "builtin:iris", "name": "iris"})).json()
        streams, readers = [], []
        for _ in range(args.streams):
            context = client.stream("GET", f"/api/v1/jobs/{job['id']}/events")
            response = await context.__aenter__()
            assert response.status_code == 200, response.status_code
            lines = response.aiter_lines()
            assert await next_status(lines) == "queued"
            streams.append(context)
            readers.append(lines)
        before, started = cpu_s(pid), time.monotonic()
        await asyncio.sleep(args.seconds)
        idle_share = (cpu_s(pid) - before) / (time.monotonic() - started)

        offline = Services.build(Settings(data_dir=data, database_url=args.database_url))
        waits = [asyncio.create_task(next_status(lines)) for lines in readers]
        started = time.monotonic()
        Worker(offline.db, offline.registry, data, name="bench").claim()
        arrived = []
        for wait in asyncio.as_completed(waits):
            assert await wait == "running"
            arrived.append(time.monotonic() - started)
        offline.db.dispose()
        for context in streams:
            await context.__aexit__(None, None, None)
    return {"streams": args.streams, "idle_seconds": args.seconds,
            "server_cpu_share_idle": round(idle_share, 4),
            "event_to_all_streams_s": round(max(arrived), 3),
            "event_to_first_stream_s": round(min(arrived), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp data dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aiaas-streams-") as work_dir:
        work = Path(work_dir)
        data, port = work / "data", free_port()
        env = {**os.environ, "AIAAS_DATA_DIR": str(data), "AIAAS_EMBEDDED_WORKER": "false",
               "AIAAS_BUILTIN_MODELS": "false", "AIAAS_MAX_JOB_STREAMS_PER_KEY": str(args.streams)}
        if args.database_url:
            env["AIAAS_DATABASE_URL"] = args.database_url
        log = work / "server.log"
        process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory",
                                    "aiaas.api.app:app_from_env", "--port", str(port),
                                    "--log-level", "warning"], env=env, stdout=log.open("wb"),
                                   stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url + "/readyz", process, log)
            key = _create_key(data) if not args.database_url else _key_on(args.database_url, data)
            print(json.dumps(asyncio.run(run(url, key, process.pid, data, args)), indent=2))
        finally:
            process.terminate()
            process.wait(30)


def _key_on(database_url: str, data: Path) -> str:
    from aiaas.auth.principal import Principal
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data, database_url=database_url))
    try:
        return services.keys.create(Principal.system(), name="bench", tenant="default", admin=True).secret
    finally:
        services.db.dispose()


if __name__ == "__main__":
    main()
