"""``backend_for`` reads the table of formats and constructs each backend with the arguments it
takes; ``open_directory`` opens a directory as the server does (detection, the task's config,
the framework backend) and refuses a task the directory does not serve."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aiaas.errors import Invalid
from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends import backend_for, open_directory
from aiaas.runtime.backends.onnx_embedding import OnnxEmbeddingBackend
from aiaas.runtime.backends.onnx_tabular import OnnxTabularBackend
from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend
from aiaas.tasks.outputs import Classification
from tests.registry.conftest import IRIS_FEATURES, iris_files, write_tree


def _version(format_name: str, task: str) -> Any:
    return SimpleNamespace(format=format_name, task=task, config={"labels": ["a", "b"]},
                           sha256="digest")


def test_auto_with_a_compile_root_serves_the_export_with_its_arguments(tmp_path: Path) -> None:
    options = ServingOptions()
    backend = backend_for(_version("sentence-transformers", "embedding"), tmp_path, threads=2,
                          compile_root=tmp_path / "compiled", options=options, lanes=3)
    assert isinstance(backend, OnnxEmbeddingBackend)
    assert (backend.digest, backend.compile_root, backend.options, backend.wanted_lanes) == (
        "digest", tmp_path / "compiled", options, 3)


@pytest.mark.parametrize(("engine", "compile_root"), [("pytorch", Path("c")), ("auto", None)])
def test_pytorch_or_no_compile_root_keeps_the_framework(tmp_path: Path, engine: str,
                                                        compile_root: Path | None) -> None:
    backend = backend_for(_version("sentence-transformers", "embedding"), tmp_path, threads=2,
                          compile_root=compile_root, engine=engine)
    assert isinstance(backend, SentenceTransformersBackend)


def test_a_versions_own_engine_pytorch_keeps_the_framework(tmp_path: Path) -> None:
    backend = backend_for(_version("sentence-transformers", "embedding"), tmp_path, threads=2,
                          compile_root=tmp_path / "compiled",
                          options=ServingOptions(engine="pytorch"))
    assert isinstance(backend, SentenceTransformersBackend)
    with pytest.raises(ValueError, match="engine"):
        ServingOptions.model_validate({"engine": "tensorrt"})


def test_the_tabular_backend_gets_its_task(tmp_path: Path) -> None:
    backend = backend_for(_version("onnx", "tabular-regression"), tmp_path, threads=1,
                          compile_root=tmp_path)
    assert isinstance(backend, OnnxTabularBackend) and backend.task == "tabular-regression"


def test_an_unknown_format_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="no backend serves format 'pickle'"):
        backend_for(_version("pickle", "embedding"), tmp_path, threads=1)


def test_open_directory_serves_what_registration_would(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "iris", iris_files())
    backend = open_directory(root, "tabular-classification", threads=1)
    try:
        assert isinstance(backend, OnnxTabularBackend)
        assert backend.config["feature_names"] == IRIS_FEATURES
        output = backend.predict_batch([[5.1, 3.5, 1.4, 0.2]], {})[0].output
    finally:
        backend.unload()
    assert isinstance(output, Classification) and output.label == "setosa"
    assert output.score == max(output.probabilities.values())


def test_open_directory_refuses_a_task_the_directory_does_not_serve(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "iris", iris_files())
    with pytest.raises(Invalid, match="cannot serve task 'embedding'"):
        open_directory(root, "embedding", threads=1)
