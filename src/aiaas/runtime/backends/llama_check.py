"""The check of a llama.cpp build of a GGUF model: greedy completions from the transformers
engine (the reference: the same file dequantised to fp32) and from llama.cpp, prompt by prompt.
Run once per artifact when its build is cached (``llama_cpp.export_f16``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.runtime.generation.llama_cpp import LlamaModel


def greedy_pairs(source_dir: Path, gguf: Path, built: Path, prompts: tuple[str, ...],
                 tokens: int, *, threads: int) -> list[tuple[list[int], list[int]]]:
    """(reference tokens, llama.cpp tokens) per prompt (as a user's chat message), each up to
    ``tokens`` long and cut after the first end-of-sequence token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": gguf.name, "local_files_only": True,
                              "trust_remote_code": False}
    tokenizer: Any = AutoTokenizer.from_pretrained(str(source_dir), **kwargs)
    reference: Any = AutoModelForCausalLM.from_pretrained(str(source_dir), dtype=torch.float32,
                                                          **kwargs)
    reference.eval()
    model = LlamaModel(built)
    eos = model.end_of_generation_ids() | (
        {tokenizer.eos_token_id} if isinstance(tokenizer.eos_token_id, int) else set())
    pairs = []
    try:
        for prompt in prompts:
            ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                add_generation_prompt=True, tokenize=True,
                                                return_dict=True)["input_ids"]
            with torch.inference_mode():
                out = reference.generate(torch.tensor([ids]), max_new_tokens=tokens,
                                         do_sample=False, pad_token_id=min(eos))
            pairs.append((_cut(out[0, len(ids):].tolist(), eos),
                          _cut(_llama_greedy(model, ids, tokens, threads), eos)))
    finally:
        model.free()
    return pairs


def _cut(tokens: list[int], eos: set[int]) -> list[int]:
    for index, token in enumerate(tokens):
        if token in eos:
            return tokens[:index + 1]
    return tokens


def _llama_greedy(model: LlamaModel, prompt: list[int], tokens: int, threads: int) -> list[int]:
    import numpy as np

    lib = model.lib
    params = lib.llama_context_default_params()
    params.n_ctx = len(prompt) + tokens + 8
    params.n_batch = params.n_ubatch = len(prompt)
    params.n_threads = params.n_threads_batch = max(1, threads)
    params.no_perf = True
    ctx = lib.llama_init_from_model(model.handle, params)
    batch = lib.llama_batch_init(len(prompt), 0, 1)
    chosen: list[int] = []
    try:
        feed = list(prompt)
        position = 0
        while len(chosen) < tokens:
            for index, token in enumerate(feed):
                batch.token[index], batch.pos[index] = token, position + index
                batch.n_seq_id[index], batch.seq_id[index][0] = 1, 0
                batch.logits[index] = index == len(feed) - 1
            batch.n_tokens = len(feed)
            if lib.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama.cpp could not decode the check prompt")
            position += len(feed)
            logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, len(feed) - 1),
                                           shape=(model.n_vocab,))
            chosen.append(int(logits.argmax()))
            feed = chosen[-1:]
    finally:
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
    return chosen
