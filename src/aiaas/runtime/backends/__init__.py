"""One module per framework; ``backend_for`` picks by the version's format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiaas.errors import Invalid
from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.base import Backend

if TYPE_CHECKING:
    from aiaas.registry.service import VersionInfo


def backend_for(version: VersionInfo, path: Path, *, threads: int,
                compile_root: Path | None = None, engine: str = "auto",
                options: ServingOptions | None = None, lanes: int = 1) -> Backend:
    """Build (not load) the backend for a version; heavy imports happen here, lazily.

    ``engine`` "auto" serves encoder models and image classifiers through a verified ONNX export
    cached under ``compile_root`` (falling back to their framework); "pytorch" keeps the
    framework."""
    if version.format == "sentence-transformers" and engine == "auto" and compile_root is not None:
        from aiaas.runtime.backends.onnx_embedding import OnnxEmbeddingBackend

        return OnnxEmbeddingBackend(path, version.config, threads=threads, digest=version.sha256,
                                    compile_root=compile_root, options=options, lanes=lanes)
    if version.format == "sentence-transformers":
        from aiaas.runtime import devices
        from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend

        chosen = options or ServingOptions()
        return SentenceTransformersBackend(path, version.config, threads=threads,
                                           device=devices.resolve(chosen.device),
                                           precision=chosen.precision)
    if version.format == "embedding-head":
        from aiaas.runtime.backends.embedding_head import EmbeddingHeadBackend

        return EmbeddingHeadBackend(path, version.config, threads=threads)
    if (version.format == "transformers" and version.task == "text-classification"
            and engine == "auto" and compile_root is not None):
        from aiaas.runtime.backends.onnx_text_classifier import OnnxTextClassifierBackend

        return OnnxTextClassifierBackend(path, version.config, threads=threads,
                                         digest=version.sha256, compile_root=compile_root,
                                         options=options, lanes=lanes)
    if version.format == "transformers" and version.task == "text-classification":
        from aiaas.runtime.backends.hf_sequence import HFSequenceBackend

        return HFSequenceBackend(path, version.config, threads=threads)
    if (version.format == "transformers" and version.task == "image-classification"
            and engine == "auto" and compile_root is not None):
        from aiaas.runtime.backends.onnx_hf_image import OnnxHFImageBackend

        return OnnxHFImageBackend(path, version.config, threads=threads, digest=version.sha256,
                                  compile_root=compile_root, options=options, lanes=lanes)
    if version.format == "transformers" and version.task == "image-classification":
        from aiaas.runtime.backends.hf_image import HFImageBackend

        return HFImageBackend(path, version.config, threads=threads)
    if version.format == "transformers" and version.task == "text2text":
        from aiaas.runtime.backends.hf_seq2seq import HFSeq2SeqBackend

        return HFSeq2SeqBackend(path, version.config, threads=threads)
    if version.format == "onnx-forecaster":
        from aiaas.runtime.backends.forecaster import ForecasterBackend

        return ForecasterBackend(path, version.config, threads=threads)
    if version.format == "onnx" and version.task == "image-classification":
        from aiaas.runtime.backends.onnx_image import OnnxImageBackend

        return OnnxImageBackend(path, version.config, threads=threads)
    if version.format == "onnx":
        from aiaas.runtime.backends.onnx_tabular import OnnxTabularBackend

        return OnnxTabularBackend(path, version.config, task=version.task, threads=threads)
    if version.format in ("gguf", "transformers-causal-lm"):
        from aiaas.runtime.backends.causal_lm import CausalLMBackend

        return CausalLMBackend(path, version.config, threads=threads)
    if version.format == "ctranslate2-whisper":
        from aiaas.runtime.backends.whisper import WhisperBackend

        return WhisperBackend(path, version.config, threads=threads)
    raise Invalid(f"no backend serves format {version.format!r}")


__all__ = ["Backend", "backend_for"]
