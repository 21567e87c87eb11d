"""Text generation for causal language models: the continuous-batching engine (``engine``), its
stacked KV cache (``kv``), sampling, incremental detokenising with stop strings (``text``),
request parameters (``params``), and recognising GGUF files and transformers causal-LM
directories (``detect``, ``gguf_check``). Modules import torch lazily where they can: ``params``
and ``detect`` are imported by the task registry and format detection."""
