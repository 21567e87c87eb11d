"""sentence-transformers directories: detected as embedding models; module classes outside the
library, paths leaving the directory, broken or deeply nested module files refused, routers too."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats import MAX_MANIFEST_BYTES, detect
from tests.registry.conftest import st_files, write_tree


def test_sentence_transformers_dir_is_detected(tmp_path: Path) -> None:
    detected = detect(write_tree(tmp_path / "m", st_files()))
    assert detected.format == "sentence-transformers"
    assert detected.tasks == ("embedding",)


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


@pytest.mark.parametrize("modules", [["x"], {"0": {"type": "os.system"}}, [{"type": 3}]])
def test_module_list_of_the_wrong_shape_is_refused(tmp_path: Path, modules: Any) -> None:
    with pytest.raises(Invalid, match=re.escape("modules.json")):
        detect(write_tree(tmp_path / "m", st_files(modules)))
