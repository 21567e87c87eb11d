"""The table of formats: every engine names a real backend class, the engine choice follows
``auto``/``pytorch`` and the compile root, the int8 builds are the two kinds the tuner measures,
detection reports tasks its format row lists, and none of it imports torch or the runtime."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aiaas.errors import Invalid
from aiaas.formats import FORMATS, Format, builds_named, detect, engine_for, format_named
from aiaas.runtime.backends.base import Backend
from tests.registry.conftest import iris_files, st_files, write_tree


@pytest.mark.parametrize("row", FORMATS, ids=lambda row: row.name)
def test_every_engine_names_a_backend_class_for_tasks_of_its_format(row: Format) -> None:
    for engine in row.engines:
        module, _, name = engine.backend.partition(":")
        assert issubclass(getattr(importlib.import_module(module), name), Backend)
        assert set(engine.tasks) <= set(row.tasks)
    for build in row.builds:
        assert set(build.tasks) <= set(row.tasks)


def test_format_names_are_unique() -> None:
    assert len({row.name for row in FORMATS}) == len(FORMATS)


@pytest.mark.parametrize(("format_name", "task", "export", "expected"), [
    ("sentence-transformers", "embedding", True, "onnx_embedding:OnnxEmbeddingBackend"),
    ("sentence-transformers", "embedding", False,
     "sentence_transformers:SentenceTransformersBackend"),
    ("transformers", "text-classification", True, "onnx_text_classifier:OnnxTextClassifierBackend"),
    ("transformers", "text-classification", False, "hf_sequence:HFSequenceBackend"),
    ("transformers", "image-classification", True, "onnx_hf_image:OnnxHFImageBackend"),
    ("transformers", "image-classification", False, "hf_image:HFImageBackend"),
    ("transformers", "text2text", True, "hf_seq2seq:HFSeq2SeqBackend"),
    ("embedding-head", "text-classification", True, "embedding_head:EmbeddingHeadBackend"),
    ("onnx", "image-classification", True, "onnx_image:OnnxImageBackend"),
    ("onnx", "tabular-regression", False, "onnx_tabular:OnnxTabularBackend"),
    ("onnx-forecaster", "forecasting", True, "forecaster:ForecasterBackend"),
    ("gguf", "chat", True, "llama_cpp:LlamaCppBackend"),
    ("gguf", "chat", False, "causal_lm:CausalLMBackend"),
    ("transformers-causal-lm", "completion", False, "causal_lm:CausalLMBackend"),
    ("ctranslate2-whisper", "speech-recognition", True, "whisper:WhisperBackend"),
])
def test_the_engine_prefers_a_verified_export_only_when_asked(format_name: str, task: str,
                                                              export: bool, expected: str) -> None:
    assert engine_for(format_name, task, export=export).backend == f"aiaas.runtime.backends.{expected}"


@pytest.mark.parametrize(("format_name", "task"), [("nope", "embedding"), ("transformers", "chat")])
def test_no_engine_is_invalid_naming_the_format(format_name: str, task: str) -> None:
    with pytest.raises(Invalid, match=f"no backend serves format {format_name!r}"):
        engine_for(format_name, task, export=True)


def test_int8_builds_are_embeddings_and_transformers_text_classifiers() -> None:
    assert builds_named("int8") == {
        ("sentence-transformers", "embedding"): "sentence-transformers embeddings",
        ("transformers", "text-classification"): "transformers text classifiers",
    }
    assert builds_named("fp16") == {}


@pytest.mark.parametrize("files", [iris_files, st_files], ids=["onnx", "sentence-transformers"])
def test_detected_tasks_are_tasks_of_the_format_row(
        tmp_path: Path, files: Callable[[], dict[str, bytes]]) -> None:
    detected = detect(write_tree(tmp_path / "m", files()))
    row = format_named(detected.format)
    assert row is not None and set(detected.tasks) <= set(row.tasks)


def test_detection_imports_no_model_framework_and_no_runtime(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", iris_files())
    code = ("import sys\nfrom pathlib import Path\nfrom aiaas.formats import detect\n"
            f"assert detect(Path({str(root)!r})).format == 'onnx'\n"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', "
            "'onnxruntime') or m.startswith(('aiaas.runtime', 'aiaas.registry', 'aiaas.tasks'))]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(("files", "problem"), [
    ({}, "empty"),
    ({"README.md": b"hello", "weights.safetensors": b"{}"}, "unrecognised model format"),
    ({"model.gguf": b"GGUF"}, "not a valid GGUF file"),
])
def test_unrecognised_directory_is_invalid(
    tmp_path: Path, files: dict[str, bytes], problem: str
) -> None:
    root = write_tree(tmp_path / "m", files)
    with pytest.raises(Invalid, match=problem) as caught:
        detect(root)
    assert type(caught.value) is Invalid
