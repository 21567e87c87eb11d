"""GGUF chat and completion models on llama.cpp (``llama-cpp-python``), falling back to the
transformers engine with the reason logged and shown.

Which weights llama.cpp runs is the version's ``gguf_weights`` config:

- ``f16`` (the default): the file's weights dequantised once into an f16 GGUF, cached under the
  compile root by artifact digest, and verified before use: greedy completions of a fixed set
  of prompts must equal the transformers engine's (which dequantises the same file to fp32).
  On this project's machine SmolLM2-135M's Q4_1 file served this way answers as the fp32
  reference does, and prefills about twice as fast as the Q4_1 file itself;
- ``file``: the file as it is. llama.cpp then also quantises activations to 8 bits in every
  quantised matmul: fastest for one stream, but measurably less faithful (SmolLM2-135M's Q4_1
  answered "What is the capital of France?" with Paris in 5 of 20 seeded tries at its
  recommended sampling, against 13 of 20 for the f16 form and the fp32 reference).

Everything before the engine (tokenising through the model's chat template, the bounds of
``prepare``, the stream relay) is the transformers backend's: only the engine differs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiaas.errors import Invalid
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import process
from aiaas.runtime.backends.causal_lm import CausalLMBackend, LockedTokenizer
from aiaas.runtime.compile.cache import cached
from aiaas.runtime.generation.scheduler import EngineLimits

log = logging.getLogger("aiaas.runtime")
KIND = "gguf-f16"
CHECK_PROMPTS = ("What is the capital of France?", "Name three primary colours.",
                 "Write one sentence about the sea.")
CHECK_TOKENS = 16
WEIGHTS = ("f16", "file")


class LlamaCppBackend(CausalLMBackend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, digest: str,
                 compile_root: Path | None, options: ServingOptions | None = None,
                 lanes: int = 1) -> None:
        super().__init__(path, config, threads=threads)
        self.digest, self.compile_root = digest, compile_root
        self.engine_name, self.engine_reason = "llama.cpp", ""
        self.weights = str(config.get("gguf_weights", "f16"))
        if self.weights not in WEIGHTS:
            raise Invalid(f"gguf_weights must be one of {', '.join(WEIGHTS)}, not {self.weights!r}",
                          details={"field": "config.gguf_weights"})
        self.llama: Any = None

    def load(self) -> None:
        reason = self._load_llama()
        if reason:
            self.engine_name, self.engine_reason = "transformers", reason
            log.warning("%s runs on transformers, not llama.cpp: %s",
                        self.label or self.path.name, reason)
            super().load()

    def _load_llama(self) -> str:
        """Serve on llama.cpp; the reason it cannot ("" when it does)."""
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            return "llama-cpp-python is not installed"
        gguf = self._gguf_file()
        model_file = gguf
        if self.weights == "f16":
            if self.compile_root is None or not self.digest:
                return "no compile cache for the f16 weights (set gguf_weights to file)"
            built = cached(self.compile_root, self.digest, KIND,
                           lambda target: export_f16(self.path, gguf, target, threads=self.threads))
            if not built.ok:
                return f"the f16 export failed its check: {built.reason}"
            model_file = built.directory / "model.gguf"
        from torch import get_num_threads as torch_threads
        from transformers import AutoTokenizer

        from aiaas.runtime.generation.llama_cpp import LlamaEngine, LlamaModel

        process.use_torch_threads(self.threads)
        tokenizer: Any = AutoTokenizer.from_pretrained(
            str(self.path), gguf_file=gguf.name, local_files_only=True, trust_remote_code=False)
        model = LlamaModel(model_file)
        self.llama = model
        self.tokenizer = LockedTokenizer(tokenizer)
        self.context_length = int(self.config.get("context_length") or model.context_length
                                  or 2048)
        self.request_tokens = int(self.config.get("max_request_tokens") or self.context_length)
        limits = self._limits()
        eos = {tokenizer.eos_token_id} if isinstance(tokenizer.eos_token_id, int) else set()
        engine = LlamaEngine(model, self.tokenizer, eos_ids=eos, limits=limits,
                             threads=self.threads or torch_threads(),
                             name=self.label or self.path.name[:12],
                             domain_error=self.domain_error)
        engine.start()
        self.engine = engine
        self._kv_bytes = 0
        return ""

    def _gguf_file(self) -> Path:
        name = self.config.get("gguf_file")
        if not isinstance(name, str) or Path(name).name != name or not (self.path / name).is_file():
            raise Invalid(f"the version's gguf_file {name!r} is not a file of the model")
        return self.path / name

    def _limits(self) -> EngineLimits:
        default = EngineLimits()
        kv_tokens = int(self.config.get("max_kv_tokens") or default.max_kv_tokens)
        return EngineLimits(
            max_sequences=int(self.config.get("max_sequences", default.max_sequences)),
            max_waiting=int(self.config.get("max_waiting", default.max_waiting)),
            max_kv_tokens=max(kv_tokens, self.context_length),
            step_tokens=int(self.config.get("step_tokens", default.step_tokens)))

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["engine"] = self.engine_name
        if self.engine_name == "llama.cpp":
            described["gguf_weights"] = self.weights
        if self.engine_reason:
            described["engine_reason"] = self.engine_reason
        return described

    def unload(self) -> None:
        super().unload()
        if self.llama is not None:
            self.llama.free()
            self.llama = None

    def memory_bytes(self) -> int:
        if self.llama is None:
            return super().memory_bytes()
        return int(self.llama.file.stat().st_size)


def export_f16(source_dir: Path, gguf: Path, target: Path, *, threads: int) -> dict[str, Any]:
    """Write ``gguf``'s weights as f16 to ``target/model.gguf`` (llama.cpp's own converter) and
    check it: greedy completions of ``CHECK_PROMPTS`` equal the transformers engine's."""
    import llama_cpp

    from aiaas.runtime.generation.llama_cpp import _backend_init

    _backend_init(llama_cpp)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    params.nthread = max(1, threads)
    out = target / "model.gguf"
    code = llama_cpp.llama_model_quantize(str(gguf).encode(), str(out).encode(), params)
    if code != 0:
        return {"ok": False, "reason": f"llama.cpp's converter returned {code}"}
    from aiaas.runtime.backends.llama_check import greedy_pairs

    pairs = greedy_pairs(source_dir, gguf, out, CHECK_PROMPTS, CHECK_TOKENS, threads=threads)
    same = [reference == candidate for reference, candidate in pairs]
    report: dict[str, Any] = {"ok": all(same), "prompts": len(pairs), "equal": sum(same),
                              "tokens": CHECK_TOKENS, "weights": "f16"}
    if not all(same):
        report["reason"] = (f"greedy tokens differ from the transformers engine's on "
                            f"{len(same) - sum(same)} of {len(same)} check prompts")
    return report
