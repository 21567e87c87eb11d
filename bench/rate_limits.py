"""Rate limits on real servers over real HTTP: how exact they are, on one server and shared by
two, and what checking them costs (issue 13's numeric Done-when items).

- ``accuracy``: one server, counters in memory. Tenant A's key is limited to ``--limit`` (60)
  requests/minute and sent steady over-limit traffic (``--rate`` 4.5/s, paced, one-row
  predictions of the built-in diagnosis model) for ``--window`` s, then ``--extra`` s more.
  The moving window admits exactly the limit in any 60 s, so within ``--window`` (<= 60 s) of
  the first request the admitted count must be min(limit, sent) +- 2 % of the limit, every
  other answer a 429 ``rate_limited`` with ``Retry-After`` and the ``x-ratelimit-*`` headers
  (missing ones counted; each Retry-After compared with when the oldest admitted request leaves
  the window). Tenant B (a tenant limit far above its use) sends ``--b-rate``/s all the while:
  all must be 200; its p50/p99 are compared with a baseline of B alone.
- ``two-servers``: A's traffic split across two server processes on one fresh PostgreSQL
  database (127.0.0.1:5432, dropped afterwards) and the shared Redis under a key prefix of this
  run's own (only its keys are deleted afterwards): the combined admitted count must be one
  limit, not two. Skipped, saying why, without PostgreSQL or Redis.
- ``overhead``: ``POST /v1/embeddings`` (all-minilm-l6-v2, one 8-24 word sentence) at
  ``--connections`` (32) with wrk, ``--seconds`` per side, ``--rounds`` rounds in alternating
  order: no limits configured vs limits on tenant and key (requests, tokens, items,
  concurrency) too high ever to refuse, on one server with counters in memory and one with
  Redis. Reports req/s and p50/p99 (medians over rounds), the throughput cost (targets <= 3 %
  in memory, <= 8 % with Redis), the server's CPU per call (steadier than req/s when the
  machine is not quiet) and the CPU of wrk (the client), the server, Redis and the rest.

    python bench/rate_limits.py                     # all three: ~8 min (+ the first ONNX export)
    python bench/rate_limits.py --only accuracy     # ~2 min
    python bench/rate_limits.py --only two-servers  # ~1.5 min
    python bench/rate_limits.py --only overhead --seconds 15 --rounds 3 --threads 2
    python bench/rate_limits.py --window 20 --extra 0 --baseline 5 --seconds 5 --rounds 1  # quick

Needs wrk (apt-get install wrk) for ``overhead``, and aiaas installed in the running interpreter.
Writes bench/results/limits-<timestamp>.json and prints a summary table. (Not named
``limits.py``: a script's folder comes first on ``sys.path``, and a bench/limits.py would stand
in for the ``limits`` library in every bench script that imports aiaas.)
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import HERE, LUA, free_port, sentences

DIAGNOSIS, EMBEDDER = "breast-cancer-diagnosis", "all-minilm-l6-v2"
PREDICT, ROW = f"/api/v1/models/{DIAGNOSIS}/predict", {"inputs": [[0.0] * 30]}
PG_HOST, PG_PORT = "127.0.0.1", 5432
WINDOW_S = 60  # every limit is per minute
HEADERS = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
           "x-ratelimit-reset-requests")
HIGH = {"requests_per_minute": 10**9, "tokens_per_minute": 10**9, "items_per_minute": 10**9,
        "concurrent_requests": 10_000}
Row = tuple[str, str, str, str, str]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    admin: str

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {key or self.admin}"})

    def new_key(self, tenant: str) -> tuple[str, str]:
        with self.client() as admin:
            response = admin.post("/api/v1/keys", json={"name": "bench", "tenant": tenant})
        response.raise_for_status()
        return response.json()["secret"], response.json()["id"]

    def limits(self, path: str, values: dict[str, int] | None) -> None:
        """Set (``values``) or clear (None) the limits at ``path``."""
        with self.client() as admin:
            response = admin.put(path, json=values) if values else admin.delete(path)
        response.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def prepare(data: Path, models: set[str], database_url: str | None = None) -> str:
    """Register the built-in ``models`` offline where the servers will look; an admin key."""
    from aiaas.auth.principal import Principal
    from aiaas.builtin import ensure_builtins
    from aiaas.config import Settings
    from aiaas.services import Services

    data.mkdir(parents=True, exist_ok=True)
    services = Services.build(Settings(data_dir=data, builtin_models=False,
                                       database_url=database_url))
    try:
        ensure_builtins(services.registry, only=models)
        return str(services.keys.create(Principal.system(), name="bench-admin",
                                        tenant="default", admin=True).secret)
    finally:
        services.db.dispose()


def start(data: Path, admin: str, threads: int, preload: str, **env: str) -> Server:
    """``aiaas serve`` on ``data`` with ``preload`` loaded; its log next to ``data``."""
    port = free_port()
    log = data.parent / f"server-{port}.log"
    env = {**os.environ, "AIAAS_DATA_DIR": str(data), "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_LOAD_CHECK": "false",
           "AIAAS_LOG_LEVEL": "warning", "AIAAS_TORCH_THREADS": str(threads),
           "AIAAS_PRELOAD": preload, **env}
    with log.open("wb") as out:  # the child keeps its own copy
        process = subprocess.Popen([str(Path(sys.executable).parent / "aiaas"), "serve",
                                    "--port", str(port)], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return Server(f"http://127.0.0.1:{port}", process, admin)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"a server did not become ready (exit code {process.poll()}); see {log}")


# -- paced traffic and what it saw --------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    sent: float  # seconds after the first request was sent
    status: int
    latency_ms: float
    code: str | None
    retry_after: float | None
    missing: tuple[str, ...]
    limit_header: str | None
    server: int


async def paced(urls: list[str], key: str, rate: float, seconds: float) -> list[Sample]:
    """Requests at ``rate`` per second for ``seconds`` whatever the answers (open loop),
    round-robin over ``urls``."""
    clients = [httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=16),
                                 headers={"Authorization": f"Bearer {key}"}) for url in urls]
    start_at = time.monotonic()

    async def one(i: int) -> Sample:
        await asyncio.sleep(max(0.0, start_at + i / rate - time.monotonic()))
        sent = time.monotonic()
        response = await clients[i % len(clients)].post(PREDICT, json=ROW)
        latency = (time.monotonic() - sent) * 1000
        code = None
        if response.status_code != 200:
            try:
                code = (response.json().get("error") or {}).get("code")
            except ValueError:
                code = "not-json"
        expected = HEADERS + (("retry-after",) if response.status_code == 429 else ())
        retry = response.headers.get("retry-after")
        return Sample(sent - start_at, response.status_code, latency, code,
                      float(retry) if retry else None,
                      tuple(h for h in expected if h not in response.headers),
                      response.headers.get("x-ratelimit-limit-requests"), i % len(clients))

    try:
        return list(await asyncio.gather(*(one(i) for i in range(int(rate * seconds)))))
    finally:
        for client in clients:
            await client.aclose()


def latency(samples: list[Sample]) -> dict[str, Any]:
    values = sorted(s.latency_ms for s in samples)
    return {"calls": len(samples), "not_200": sum(s.status != 200 for s in samples),
            "p50_ms": round(values[len(values) // 2], 2) if values else None,
            "p99_ms": round(values[int(len(values) * 0.99)], 2) if values else None}


def accuracy_of(samples: list[Sample], limit: int, window: float) -> dict[str, Any]:
    """Admitted in ``window`` vs the limit, refusals, missing headers, Retry-After's accuracy."""
    in_window = [s for s in samples if s.sent < window]
    admitted = sum(s.status == 200 for s in in_window)
    expected = min(limit, len(in_window))
    times = sorted(s.sent for s in samples if s.status == 200)
    busiest = max((bisect.bisect_left(times, t + WINDOW_S) - i for i, t in enumerate(times)),
                  default=0)
    refused = [s for s in samples if s.status == 429 and s.code == "rate_limited"]
    # A refusal's Retry-After vs when the oldest request admitted in its last 60 s leaves the
    # window (client send times; Retry-After is whole seconds rounded up: 0 to 1 s over is exact).
    deltas = []
    for s in refused:
        oldest = bisect.bisect_right(times, s.sent - WINDOW_S)
        if oldest < len(times) and times[oldest] < s.sent and s.retry_after is not None:
            deltas.append(s.retry_after - (times[oldest] + WINDOW_S - s.sent))
    return {
        "sent": len(samples), "sent_in_window": len(in_window), "admitted_in_window": admitted,
        "expected_in_window": expected,
        "error_pct_of_limit": round(100 * (admitted - expected) / limit, 2),
        "within_2pct": abs(admitted - expected) <= 0.02 * limit,
        "admitted_total": len(times), "most_admitted_in_any_60s": busiest,
        "refused_rate_limited": len(refused),
        "other_answers": dict(Counter(f"{s.status} {s.code}" for s in samples if s.status != 200
                                      and (s.status, s.code) != (429, "rate_limited"))),
        "missing_headers": dict(Counter(h for s in samples for h in s.missing)),
        "wrong_limit_header": sum(s.limit_header != str(limit) for s in samples),
        "retry_after_s": {"min": min((s.retry_after or 0 for s in refused), default=None),
                          "max": max((s.retry_after or 0 for s in refused), default=None),
                          "checked": len(deltas), "early": sum(d < -0.25 for d in deltas),
                          "late": sum(d > 1.25 for d in deltas),
                          "median_error_s":
                              round(statistics.median(deltas), 3) if deltas else None},
        "per_server_admitted": dict(Counter(str(s.server) for s in samples if s.status == 200)),
    }


def run_accuracy(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = work / "accuracy" / "data"
    server = start(data, prepare(data, {DIAGNOSIS}), args.threads, DIAGNOSIS)
    try:
        run = uuid.uuid4().hex[:6]
        key_a, id_a = server.new_key(f"bench-a-{run}")
        key_b, _ = server.new_key(f"bench-b-{run}")
        server.limits(f"/api/v1/keys/{id_a}/limits", {"requests_per_minute": args.limit})
        server.limits(f"/api/v1/tenants/bench-b-{run}/limits", {"requests_per_minute": 10**6})
        asyncio.run(paced([server.url], key_b, 20, 2))  # warm: connections, model, caches
        baseline = asyncio.run(paced([server.url], key_b, args.b_rate, args.baseline))

        async def both() -> list[list[Sample]]:
            seconds = args.window + args.extra
            return list(await asyncio.gather(paced([server.url], key_a, args.rate, seconds),
                                             paced([server.url], key_b, args.b_rate, seconds)))

        a, b = asyncio.run(both())
    finally:
        server.stop()
    return {**accuracy_of(a, args.limit, args.window),
            "tenant_b": {"baseline": latency(baseline), "with_a": latency(b)}}


# -- two servers, one PostgreSQL database, one Redis ---------------------------------------------

def unreachable(redis_url: str, with_postgres: bool) -> str | None:
    """Why Redis (and PostgreSQL) cannot be used, or None."""
    import redis

    try:
        with redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2) as r:
            r.ping()
    except Exception as exc:
        return f"Redis at {redis_url} does not answer ({exc})"
    try:
        if with_postgres:
            import psycopg

            psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                            connect_timeout=2).close()
    except Exception as exc:
        return f"PostgreSQL on {PG_HOST}:{PG_PORT} does not answer ({exc})"
    return None


def drop_prefix(url: str, prefix: str) -> int:
    """Delete this run's keys (and only them) from the shared Redis; how many there were."""
    import redis

    with redis.Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for at in range(0, len(keys), 500):
            client.delete(*keys[at:at + 500])
    return len(keys)


def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def run_two_servers(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    reason = unreachable(args.redis_url, with_postgres=True)
    if reason:
        print(f"two-servers: skipped: {reason}", flush=True)
        return {"skipped": reason}
    name, prefix = f"aiaas_bench_{uuid.uuid4().hex[:12]}", f"aiaas-bench-{uuid.uuid4().hex[:12]}"
    postgres(f'CREATE DATABASE "{name}"')
    database_url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    servers: list[Server] = []
    try:
        data = work / "two" / "data"
        admin = prepare(data, {DIAGNOSIS}, database_url)
        env = {"AIAAS_DATABASE_URL": database_url, "AIAAS_REDIS_URL": args.redis_url,
               "AIAAS_REDIS_KEY_PREFIX": prefix}
        servers = [start(data, admin, args.threads, DIAGNOSIS, **env) for _ in range(2)]
        key, key_id = servers[0].new_key(f"bench-a-{uuid.uuid4().hex[:6]}")
        for server in servers:  # warm: model and connections (the admin key has no limits)
            asyncio.run(paced([server.url], server.admin, 20, 1))
        servers[0].limits(f"/api/v1/keys/{key_id}/limits", {"requests_per_minute": args.limit})
        time.sleep(3)  # the other server reads a changed limit within AIAAS_CACHE_TTL_S (2 s)
        for server in servers:  # a stale view is reloaded on a request: make both current
            asyncio.run(paced([server.url], server.admin, 1, 1))
        time.sleep(0.5)
        samples = asyncio.run(paced([s.url for s in servers], key, args.rate,
                                    args.window + args.extra))
        ready = []
        for server in servers:
            with server.client() as client:
                ready.append(client.get("/readyz").json()["checks"].get("limits"))
    finally:
        for server in servers:
            server.stop()
        removed = drop_prefix(args.redis_url, prefix)
        postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {**accuracy_of(samples, args.limit, args.window), "readyz_limits": ready,
            "redis_prefix": prefix, "redis_keys_deleted": removed}


# -- overhead -----------------------------------------------------------------------------------

def cpu_s(pid: int | None = None, redis_url: str | None = None) -> float:
    """CPU seconds of a process (/proc), of Redis (INFO cpu) or of the whole machine (busy)."""
    if redis_url is not None:
        import redis

        with redis.Redis.from_url(redis_url) as client:
            info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    tick = os.sysconf("SC_CLK_TCK")
    if pid is not None:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / tick  # all but idle and iowait


def wrk(server: Server, key: str, script: Path, connections: int, seconds: int,
        redis_url: str | None) -> dict[str, Any]:
    """One wrk run; the CPU of wrk, the server, Redis and the rest, in % of one core."""
    def cpu() -> dict[str, float]:
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"client": used.ru_utime + used.ru_stime, "server": cpu_s(server.process.pid),
                "redis": cpu_s(redis_url=redis_url) if redis_url else 0.0, "all": cpu_s()}

    before = cpu()
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script),
         "-H", "Content-Type: application/json", "-H", f"Authorization: Bearer {key}",
         server.url + "/v1/embeddings"], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    used = {name: value - before[name] for name, value in cpu().items()}
    used["other"] = used.pop("all") - used["client"] - used["server"] - used["redis"]
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    answered = row["requests"] - row["errors"]
    row["rps"] = round(answered / row["seconds"], 1)
    row["server_cpu_ms_per_call"] = round(1000 * used["server"] / max(1, answered), 3)
    return row | {f"{n}_cpu_pct": round(100 * v / row["seconds"], 1) for n, v in used.items()}


def run_overhead(args: argparse.Namespace, work: Path, store: str) -> dict[str, Any]:
    prefix = f"aiaas-bench-{uuid.uuid4().hex[:12]}"
    redis_url = args.redis_url if store == "redis" else None
    reason = unreachable(args.redis_url, with_postgres=False) if redis_url else None
    if reason:
        print(f"overhead redis: skipped: {reason}", flush=True)
        return {"skipped": reason}
    env = {"AIAAS_REDIS_URL": args.redis_url, "AIAAS_REDIS_KEY_PREFIX": prefix} if redis_url else {}
    data = work / f"overhead-{store}" / "data"
    server = start(data, prepare(data, {EMBEDDER}), args.threads, EMBEDDER, **env)
    script = work / f"overhead-{store}.lua"
    script.write_text(LUA % ",".join(json.dumps(json.dumps({"model": EMBEDDER, "input": text}))
                                     for text in sentences(2048)))
    tenant = f"bench-{store}-{uuid.uuid4().hex[:6]}"
    runs: dict[str, list[dict[str, Any]]] = {"none": [], "limits": []}
    try:
        key, key_id = server.new_key(tenant)
        paths = (f"/api/v1/tenants/{tenant}/limits", f"/api/v1/keys/{key_id}/limits")

        def configure(side: str) -> None:
            for path in paths if side == "limits" else reversed(paths):  # the tenant's first
                server.limits(path, {kind: HIGH[kind] for kind in args.kinds}
                              if side == "limits" else None)
            with server.client(key) as client:  # the side is what it says
                probe = client.post("/v1/embeddings", json={"model": EMBEDDER, "input": "hi"})
            limited = any(name.startswith("x-ratelimit-limit-") for name in probe.headers)
            headed = {"requests_per_minute", "tokens_per_minute"} & set(args.kinds)
            if probe.status_code != 200 or limited != (side == "limits" and bool(headed)):
                raise RuntimeError(f"{side}: the probe answered {probe.status_code}, "
                                   f"x-ratelimit headers {'present' if limited else 'absent'}")

        for side in runs:  # warm: the model's batches, connections, the limiter's keys
            configure(side)
            wrk(server, key, script, args.connections, args.warmup, redis_url)
        for round_ in range(args.rounds):
            for side in list(runs) if round_ % 2 == 0 else list(reversed(runs)):
                configure(side)
                row = wrk(server, key, script, args.connections, args.seconds, redis_url)
                runs[side].append(row)
                print(f"overhead {store:6s} round {round_ + 1} {side:6s} {row['rps']:7.1f} req/s"
                      f"  p50 {row['p50_ms']:6.1f}  p99 {row['p99_ms']:6.1f} ms  errors "
                      f"{row['errors']}  CPU % wrk {row['client_cpu_pct']:.0f} server "
                      f"{row['server_cpu_pct']:.0f} redis {row['redis_cpu_pct']:.0f} other "
                      f"{row['other_cpu_pct']:.0f}", flush=True)
    finally:
        server.stop()
        removed = drop_prefix(args.redis_url, prefix) if redis_url else 0
    names = ("rps", "p50_ms", "p99_ms", "server_cpu_ms_per_call",
             *(f"{n}_cpu_pct" for n in ("client", "server", "redis", "other")))
    med = {side: {n: statistics.median(r[n] for r in rows) for n in names}
           for side, rows in runs.items()}
    paired = [1 - lim["rps"] / none["rps"] for none, lim in zip(runs["none"], runs["limits"],
                                                                   strict=True)]
    cost, target = 100 * (1 - med["limits"]["rps"] / med["none"]["rps"]), 8.0 if redis_url else 3.0
    every = [r for rows in runs.values() for r in rows]
    return {"runs": runs, "median": med, "cost_pct": round(cost, 2),
            "paired_cost_pct_median": round(100 * statistics.median(paired), 2),
            "target_pct": target, "meets_target": cost <= target,
            "errors": sum(r["errors"] for r in every),
            "client_bound": max(r["client_cpu_pct"] for r in every) > 80,
            **({"redis_prefix": prefix, "redis_keys_deleted": removed} if redis_url else {})}


# -- the summary --------------------------------------------------------------------------------

def rows_of(part: str, r: dict[str, Any], limit: int) -> list[Row]:
    def ok(good: bool) -> str:
        return "ok" if good else "FAIL"

    if "skipped" in r:
        return [(part, "skipped", r["skipped"][:70], "", "")]
    if part.startswith("overhead"):
        none, lim = r["median"]["none"], r["median"]["limits"]
        cpu = " / ".join(f"{max(none[f'{n}_cpu_pct'], lim[f'{n}_cpu_pct']):.0f}"
                         for n in ("client", "server", "redis", "other"))
        return [
            (part, "req/s: no limits -> limits", f"{none['rps']:.1f} -> {lim['rps']:.1f}", "", ""),
            (part, "p50 / p99 ms: no limits -> limits", f"{none['p50_ms']:.1f} / "
             f"{none['p99_ms']:.1f} -> {lim['p50_ms']:.1f} / {lim['p99_ms']:.1f}", "", ""),
            (part, "server CPU ms per call: no limits -> limits",
             f"{none['server_cpu_ms_per_call']:.2f} -> {lim['server_cpu_ms_per_call']:.2f}", "", ""),
            (part, "throughput cost (paired median)", f"{r['cost_pct']:+.2f}% "
             f"({r['paired_cost_pct_median']:+.2f}%)", f"<= {r['target_pct']:.0f}%",
             ok(r["meets_target"])),
            (part, "non-2xx answers", str(r["errors"]), "0", ok(r["errors"] == 0)),
            (part, "CPU % of a core: wrk / server / redis / rest", cpu, "wrk < 80",
             ok(not r["client_bound"]))]
    retry, other = r["retry_after_s"], sum(r["other_answers"].values())
    rows = [
        (part, "admitted in the window / expected", f"{r['admitted_in_window']} / "
         f"{r['expected_in_window']} ({r['error_pct_of_limit']:+.1f}% of {limit})", "+-2%",
         ok(r["within_2pct"])),
        (part, "most admitted in any 60 s", str(r["most_admitted_in_any_60s"]),
         f"<= {limit * 1.02:g}", ok(r["most_admitted_in_any_60s"] <= limit * 1.02)),
        (part, "429 rate_limited / other answers", f"{r['refused_rate_limited']} / {other}",
         "other 0", ok(other == 0)),
        (part, f"headers missing or wrong (of {r['sent']})", f"{r['missing_headers'] or 0} / "
         f"{r['wrong_limit_header']}", "0 / 0",
         ok(not r["missing_headers"] and not r["wrong_limit_header"])),
        (part, "Retry-After early / late (of checked)",
         f"{retry['early']} / {retry['late']} (of {retry['checked']})", "0 / 0",
         ok(retry["early"] == retry["late"] == 0))]
    if "tenant_b" in r:
        alone, with_a = r["tenant_b"]["baseline"], r["tenant_b"]["with_a"]
        rows += [(part, "tenant B answers not 200", f"{with_a['not_200']} of {with_a['calls']}",
                  "0", ok(with_a["not_200"] == alone["not_200"] == 0)),
                 (part, "tenant B p50 / p99 ms: alone -> with A", f"{alone['p50_ms']} / "
                  f"{alone['p99_ms']} -> {with_a['p50_ms']} / {with_a['p99_ms']}", "", "")]
    else:
        rows.append((part, "admitted per server; readyz limits",
                     f"{r['per_server_admitted']}; {r['readyz_limits']}", "", ""))
    return rows


def summary(report: dict[str, Any], limit: int) -> None:
    parts = [("accuracy", report.get("accuracy")), ("two-servers", report.get("two_servers")),
             *((f"overhead {store}", r) for store, r in report.get("overhead", {}).items())]
    rows: list[Row] = [("part", "measure", "value", "target", "")]
    rows += [row for part, r in parts if r is not None for row in rows_of(part, r, limit)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--only", nargs="+", default=["accuracy", "two-servers", "overhead"],
        choices=["accuracy", "two-servers", "overhead"])
    add("--limit", type=int, default=60, help="Tenant A's key: requests per minute.")
    add("--rate", type=float, default=4.5, help="Tenant A's requests per second.")
    add("--window", type=float, default=60.0, help="Seconds from A's first request in which "
        "admissions are counted (<= 60).")
    add("--extra", type=float, default=15.0, help="Seconds of the same traffic after the window.")
    add("--b-rate", type=float, default=5.0, help="Tenant B's requests per second.")
    add("--baseline", type=float, default=15.0, help="Seconds of tenant B alone, before.")
    add("--seconds", type=int, default=15, help="Overhead: seconds per side and round.")
    add("--rounds", type=int, default=3, help="Overhead: rounds (the order alternates).")
    add("--warmup", type=int, default=5, help="Overhead: warm-up seconds per side.")
    add("--connections", type=int, default=32, help="Overhead: wrk's connections.")
    add("--stores", nargs="+", default=["memory", "redis"], choices=["memory", "redis"],
        help="Overhead: where the counters live.")
    add("--threads", type=int, default=2, help="Model threads of every server "
        "(AIAAS_TORCH_THREADS; the same for both sides).")
    add("--kinds", nargs="+", default=list(HIGH), choices=list(HIGH),
        help="Overhead: which limits the limited side sets (each high enough never to refuse).")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--out", type=Path, default=None)
    args = parser.parse_args()
    if not 0 < args.window <= WINDOW_S:
        parser.error("--window must be in (0, 60]: within 60 s of the first request a moving "
                     "window admits exactly the limit")
    if args.rate * args.window <= args.limit:
        parser.error("--rate x --window must exceed --limit (over-limit traffic)")
    if "overhead" in args.only and shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    # The servers get exactly the settings given here: an AIAAS_REDIS_URL or AIAAS_DATABASE_URL
    # of the calling shell would change what is measured. The ONNX export cache may be shared.
    dropped = sorted(n for n in os.environ if n.startswith("AIAAS_") and n != "AIAAS_COMPILE_DIR")
    for name in dropped:
        del os.environ[name]
    if dropped:
        print(f"ignored from the environment: {', '.join(dropped)}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="aiaas-limits-"))
    os.environ.setdefault("AIAAS_COMPILE_DIR", str(work / "compiled"))
    report: dict[str, Any] = {
        "command": " ".join(["python", "bench/rate_limits.py", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_before": os.getloadavg()}}
    try:
        if "accuracy" in args.only:
            report["accuracy"] = run_accuracy(args, work)
        if "two-servers" in args.only:
            report["two_servers"] = run_two_servers(args, work)
        if "overhead" in args.only:
            report["overhead"] = {store: run_overhead(args, work, store) for store in args.stores}
    except BaseException:
        print(f"failed; the servers' logs are kept in {work}", file=sys.stderr)
        raise
    shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    summary(report, args.limit)
    out = args.out or HERE / "results" / f"limits-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
