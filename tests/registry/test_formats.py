"""Format detection refuses whatever would run code when loaded: pickles and code by suffix,
sentence-transformers module classes outside the library, paths leaving the directory, and ONNX
external data outside it; and it says why."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.registry.formats import MAX_MANIFEST_BYTES, detect, read_manifest
from tests.registry.conftest import iris_files, linear_onnx, st_files, write_tree


def test_iris_onnx_is_detected(tmp_path: Path) -> None:
    detected = detect(write_tree(tmp_path / "m", iris_files()))
    assert detected.format == "onnx"
    assert detected.config == {"model_file": "model.onnx"}
    assert detected.manifest.task == "tabular-classification"


def test_sentence_transformers_dir_is_detected(tmp_path: Path) -> None:
    detected = detect(write_tree(tmp_path / "m", st_files()))
    assert detected.format == "sentence-transformers"
    assert detected.tasks == ("embedding",)


UNSAFE = ["model.pkl", "model.pickle", "pytorch_model.bin", "model.pt", "model.pth",
          "model.joblib", "model.dill", "model.sav", "model.ckpt", "tf_model.h5", "model.keras",
          "x.npy", "x.npz", "modeling_evil.py", "sub/dir/helper.pyc", "lib.so", "MODEL.PKL",
          "model.pkl.gz", "model.joblib.xz"]


@pytest.mark.parametrize("name", UNSAFE)
def test_code_running_file_is_refused_and_the_message_says_why(tmp_path: Path, name: str) -> None:
    root = write_tree(tmp_path / "m", {**iris_files(), name: b"\x80\x04K\x01."})
    with pytest.raises(UnsafeArtifact) as caught:
        detect(root)
    message = caught.value.message
    assert name in message
    assert "can run code" in message
    assert "accepted formats" in message
    assert caught.value.details == {"file": name}


def test_unsafe_file_in_a_sentence_transformers_dir_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", st_files(extra={"pytorch_model.bin": b"PK"}))
    with pytest.raises(UnsafeArtifact, match=re.escape("pytorch_model.bin")):
        detect(root)


@pytest.mark.parametrize("name", ["weights.onnx.data", "vocab.txt", "python.txt", "model.binary",
                                  "notes.py.md"])
def test_harmless_names_are_not_refused(tmp_path: Path, name: str) -> None:
    detect(write_tree(tmp_path / "m", {**iris_files(), name: b"data"}))


HOSTILE_TYPES = ["os.system", "pickle.Unpickler", "builtins.eval", "subprocess.Popen",
                 "modeling_custom.CustomModel", "sentence_transformers.modelsX.Evil",
                 "sentence_transformers.models.", "sentence_transformers.models.__builtins__",
                 "sentence_transformers.models.Transformer; import os",
                 "sentence_transformers.models.os.system()", "transformers.AutoModel"]


@pytest.mark.parametrize("module_type", HOSTILE_TYPES)
def test_module_type_outside_sentence_transformers_is_refused(
    tmp_path: Path, module_type: str
) -> None:
    modules = [{"idx": 0, "name": "0", "path": "", "type": module_type}]
    with pytest.raises(UnsafeArtifact) as caught:
        detect(write_tree(tmp_path / "m", st_files(modules)))
    assert repr(module_type) in caught.value.message
    assert "sentence_transformers.models.*" in caught.value.message


@pytest.mark.parametrize("module_type", [
    "sentence_transformers.models.Normalize",
    "sentence_transformers.base.modules.transformer.Transformer",
    "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
])
def test_module_types_of_every_sentence_transformers_version_are_accepted(
    tmp_path: Path, module_type: str
) -> None:
    """sentence-transformers 6 saves ``sentence_transformers.base.modules...`` in modules.json."""
    modules = [*[dict(m) for m in json.loads(st_files()["modules.json"])],
               {"idx": 2, "name": "2", "path": "2_Extra", "type": module_type}]
    assert detect(write_tree(tmp_path / "m", st_files(modules))).format == "sentence-transformers"


@pytest.mark.parametrize("path", ["..", "../other", "1_Pooling/../../x", "/etc", "/", "C:\\x",
                                  "..\\..\\x"])
def test_module_path_leaving_the_directory_is_refused(tmp_path: Path, path: str) -> None:
    modules = [{"idx": 0, "name": "0", "path": path, "type": "sentence_transformers.models.Pooling"}]
    with pytest.raises(UnsafeArtifact, match="leaves the model directory"):
        detect(write_tree(tmp_path / "m", st_files(modules)))


ROUTER = [{"idx": 0, "name": "0", "path": "router",
           "type": "sentence_transformers.models.Router"}]


def _router_config(types: dict[str, str]) -> bytes:
    return json.dumps({"types": types, "structure": {}, "parameters": {}}).encode()


@pytest.mark.parametrize("types", [
    {"query": "os.system"},
    {"../outside": "sentence_transformers.models.Transformer"},
    {"/abs": "sentence_transformers.models.Transformer"},
    {"inner": "sentence_transformers.models.Router"},
])
def test_router_modules_are_checked_too(tmp_path: Path, types: dict[str, str]) -> None:
    files = st_files(ROUTER, extra={"router/router_config.json": _router_config(types)})
    with pytest.raises(UnsafeArtifact):
        detect(write_tree(tmp_path / "m", files))


def test_router_with_library_modules_is_accepted(tmp_path: Path) -> None:
    types = {"query": "sentence_transformers.models.Transformer",
             "doc": "sentence_transformers.base.modules.dense.Dense"}
    files = st_files(ROUTER, extra={"router/router_config.json": _router_config(types)})
    assert detect(write_tree(tmp_path / "m", files)).format == "sentence-transformers"


@pytest.mark.parametrize("content", [
    b"not json", b"{\"type\": \"x\"}", b"[1, 2]", b"[{\"path\": \"\"}]", b"[" * 100_000,
    b"\xff\xfe", b" " * (MAX_MANIFEST_BYTES + 1),
])
def test_broken_modules_json_is_invalid(tmp_path: Path, content: bytes) -> None:
    files = {**st_files(), "modules.json": content}
    with pytest.raises(Invalid) as caught:
        detect(write_tree(tmp_path / "m", files))
    assert "modules.json" in caught.value.message


def test_deeply_nested_module_config_is_invalid(tmp_path: Path) -> None:
    files = st_files(extra={"1_Pooling/config.json": b"[" * 100_000})
    with pytest.raises(Invalid, match=re.escape("1_Pooling/config.json")):
        detect(write_tree(tmp_path / "m", files))


@pytest.mark.parametrize(("manifest", "problem"), [
    (b"[" * 100_000, "not valid JSON"),
    (b"{\"task\": 1", "not valid JSON"),
    (json.dumps({"task": "tabular-classification", "run": "os.system"}).encode(), "run"),
    (b"{\"metrics\": {\"accuracy\": NaN}}", "metrics"),
    (b"{\"metrics\": {\"accuracy\": Infinity}}", "metrics"),
    (json.dumps({"description": "nul \u0000 byte"}).encode(), "NUL"),
    (json.dumps({"labels": ["a\u0000"]}).encode(), "NUL"),
    (b" " * (MAX_MANIFEST_BYTES + 1), "larger than"),
])
def test_bad_manifest_is_invalid(tmp_path: Path, manifest: bytes, problem: str) -> None:
    root = write_tree(tmp_path / "m", {**iris_files(), "aiaas.json": manifest})
    with pytest.raises(Invalid) as caught:
        read_manifest(root)
    assert type(caught.value) is Invalid
    assert "aiaas.json" in caught.value.message
    assert problem in caught.value.message


OUTSIDE = ["../../etc/passwd", "/etc/passwd", "../model.data", "sub/../../x.data",
           "..\\..\\windows\\x", "C:\\x.data"]


@pytest.mark.parametrize("where", ["initializer", "attribute", "subgraph"])
@pytest.mark.parametrize("location", OUTSIDE)
def test_onnx_external_data_outside_the_directory_is_refused(
    tmp_path: Path, location: str, where: str
) -> None:
    model, _weights = linear_onnx(location=location, in_attribute=where == "attribute",
                                  in_subgraph=where == "subgraph")
    root = write_tree(tmp_path / "data" / "m", {"model.onnx": model})
    # the target exists, so refusing it is not merely "file missing"
    (tmp_path / "data" / "model.data").write_bytes(b"\0" * 16)
    with pytest.raises(UnsafeArtifact) as caught:
        detect(root)
    assert repr(location) in caught.value.message
    assert "outside the model directory" in caught.value.message


@pytest.mark.parametrize("where", ["initializer", "attribute", "subgraph"])
def test_onnx_external_data_inside_the_directory_is_accepted(tmp_path: Path, where: str) -> None:
    model, weights = linear_onnx(location="weights/w.data", in_attribute=where == "attribute",
                                 in_subgraph=where == "subgraph")
    root = write_tree(tmp_path / "m", {"model.onnx": model, "weights/w.data": weights})
    assert detect(root).format == "onnx"


def test_onnx_external_data_that_is_missing_is_invalid(tmp_path: Path) -> None:
    model, _ = linear_onnx(location="missing.data")
    with pytest.raises(Invalid, match="missing") as caught:
        detect(write_tree(tmp_path / "m", {"model.onnx": model}))
    assert type(caught.value) is Invalid


def test_onnx_that_does_not_parse_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="not a valid ONNX model"):
        detect(write_tree(tmp_path / "m", {"model.onnx": b"\x08\x07garbage" * 50}))


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


def test_links_inside_a_model_directory_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", iris_files())
    (root / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArtifact, match="symbolic link"):
        detect(root)


@pytest.mark.parametrize("modules", [["x"], {"0": {"type": "os.system"}}, [{"type": 3}]])
def test_module_list_of_the_wrong_shape_is_refused(tmp_path: Path, modules: Any) -> None:
    with pytest.raises(Invalid, match=re.escape("modules.json")):
        detect(write_tree(tmp_path / "m", st_files(modules)))
