"""What the rate-limit check itself costs a call, in process: ``RateLimitCheck.admit`` plus the
ticket's settlement, with every limit kind set on a key and its tenant (high enough never to
refuse), on the in-memory counters and on Redis. The HTTP A/B in ``bench/rate_limits.py`` is the
end-to-end figure, but on a 2-core machine its run-to-run noise (~10%) is larger than the effect;
this gives the direct CPU per call to set against a served call's CPU (~6-8 ms for embeddings).

    python bench/limiter_admission.py --calls 2000
    python bench/limiter_admission.py --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from aiaas.auth.principal import Principal
from aiaas.calls.call import ModelCall
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.tasks.units import Units

HIGH = {"requests_per_minute": 10**9, "tokens_per_minute": 10**9, "items_per_minute": 10**9,
        "concurrent_requests": 10_000}
MODEL = "breast-cancer-diagnosis"


async def per_call(services: Services, principal: Principal, calls: int) -> dict[str, float]:
    call = await services.calls.resolve(ModelCall(principal, MODEL, inputs=[[0.0] * 30]))
    check = services.limiter

    async def one() -> None:
        ticket = await check.admit(call)
        assert ticket is not None, "no limits applied"
        ticket.settle(Units(items=1), "ok")  # owed to the next admission
        await asyncio.sleep(0)

    warm_until = time.monotonic() + 1.5  # long enough for a lease to measure the call rate
    while time.monotonic() < warm_until:
        await one()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await one()
    await check.counters.flush()
    return {"wall_us": round(1e6 * (time.perf_counter() - wall) / calls, 1),
            "cpu_us": round(1e6 * (time.process_time() - cpu) / calls, 1)}


def measure(store: str, redis_url: str | None, calls: int) -> dict[str, float]:
    from aiaas.builtin import ensure_builtins

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), builtin_models=False, redis_url=redis_url,
                            redis_key_prefix=f"aiaas-bench-{uuid.uuid4().hex[:12]}")
        services = Services.build(settings)
        ensure_builtins(services.registry, only={MODEL})
        system = Principal.system()
        key = services.keys.create(system, name="bench", tenant="bench")
        services.tenants.limits.set(system, tenant="bench", **HIGH)
        services.tenants.limits.set(system, key_id=key.info.id, **HIGH)
        principal = services.keys.authenticate(key.secret)

        async def run() -> dict[str, float]:
            try:
                return await per_call(services, principal, calls)
            finally:
                await services.limiter.close()

        try:
            result = asyncio.run(run())
        finally:
            services.db.dispose()
    print(f"{store:6s} admission + settlement: {result['cpu_us']:.0f} us CPU, "
          f"{result['wall_us']:.0f} us wall per call", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="Empty to skip the Redis side.")
    args = parser.parse_args()
    report = {"command": "python bench/limiter_admission.py", "calls": args.calls,
              "memory": measure("memory", None, args.calls)}
    if args.redis_url:
        report["redis"] = measure("redis", args.redis_url, args.calls)
    out = Path(__file__).parent / "results" / "limiter_admission.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
