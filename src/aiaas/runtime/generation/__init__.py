"""Text generation for causal language models: the continuous-batching engine (``engine``), its
stacked KV cache (``kv``), sampling, and incremental detokenising with stop strings (``text``).
Request parameters live with the tasks (``aiaas.tasks.generation_params``); recognising GGUF
files and transformers causal-LM directories is format detection (``aiaas.formats.causal_lm``).
Modules import torch lazily where they can."""
