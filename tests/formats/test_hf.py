"""transformers directories: what detection finds in a tiny BERT classifier, and what it refuses
(``auto_map``, pickled or outside weights, unservable configs, a missing tokenizer or image
processor, corrupt safetensors, encoder-decoders that are not text to text)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid, UnsafeArtifact
from tests.conftest import Api
from tests.registry.conftest import copy_of, edit_json, write_tree
from tests.runtime.tiny_models import (
    TEXT_LABELS,
    build_image_classifier,
    build_seq2seq,
    build_text_classifier,
    tar_gz,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests are about the model, not the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_classifier(tmp_path_factory.mktemp("bert") / "sentiment")


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_seq2seq(tmp_path_factory.mktemp("t5") / "translator")


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image_classifier(tmp_path_factory.mktemp("vit") / "pets")


async def test_a_transformers_classifier_is_detected_with_its_labels(api: Api,
                                                                     classifier_dir: Path) -> None:
    info = api.services.registry.register(classifier_dir, tenant="default", name="sentiment",
                                          created_by="test")
    assert (info.task, info.format) == ("text-classification", "transformers")
    assert info.labels == list(TEXT_LABELS)
    assert info.config["architecture"] == "BertForSequenceClassification"


async def test_auto_map_in_config_is_refused_as_unsafe_over_http(api: Api, classifier_dir: Path,
                                                                 tmp_path: Path) -> None:
    hostile = copy_of(classifier_dir, tmp_path / "hostile")
    edit_json(hostile / "config.json",
              auto_map={"AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    response = await api.client.post("/api/v1/models/evil/versions", content=tar_gz(hostile),
                                     headers=api.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsafe_artifact"
    assert "auto_map" in error["message"] and "trust_remote_code" in error["message"]
    listing = await api.client.get("/api/v1/models", headers=api.auth())
    assert "evil" not in {m["name"] for m in listing.json()["models"]}


def test_auto_map_in_the_tokenizer_config_is_refused(api: Api, classifier_dir: Path,
                                                     tmp_path: Path) -> None:
    hostile = copy_of(classifier_dir, tmp_path / "hostile")
    edit_json(hostile / "tokenizer_config.json",
              auto_map={"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]})
    with pytest.raises(UnsafeArtifact, match=r"tokenizer_config\.json"):
        api.services.registry.register(hostile, tenant="default", name="evil", created_by="test")


def test_pickled_weights_are_refused(api: Api, classifier_dir: Path, tmp_path: Path) -> None:
    pickled = copy_of(classifier_dir, tmp_path / "pickled")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(UnsafeArtifact, match=r"pytorch_model\.bin"):
        api.services.registry.register(pickled, tenant="default", name="pickled", created_by="test")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_type": "my-own-arch"}, "not built into transformers"),
        ({"architectures": ["BertModel"]}, "not a transformers model aiaas serves"),
        ({"architectures": []}, "exactly one class"),
        ({"id2label": {"0": "only"}, "num_labels": 1}, "at least two labels"),
        ({"id2label": {"0": "a", "5": "b"}}, "0..1"),
        ({"problem_type": "regression"}, "regression"),
    ],
)
def test_configs_that_cannot_be_served_are_refused(api: Api, classifier_dir: Path, tmp_path: Path,
                                                   change: dict[str, Any], message: str) -> None:
    odd = copy_of(classifier_dir, tmp_path / "odd")
    edit_json(odd / "config.json", **change)
    with pytest.raises(Invalid, match=message):
        api.services.registry.register(odd, tenant="default", name="odd", created_by="test")


def test_a_classifier_without_its_tokenizer_is_refused(api: Api, classifier_dir: Path,
                                                       tmp_path: Path) -> None:
    bare = copy_of(classifier_dir, tmp_path / "bare")
    (bare / "tokenizer.json").unlink()
    with pytest.raises(Invalid, match="needs its tokenizer"):
        api.services.registry.register(bare, tenant="default", name="bare", created_by="test")


def test_shards_outside_the_directory_are_refused(api: Api, classifier_dir: Path,
                                                  tmp_path: Path) -> None:
    sharded = copy_of(classifier_dir, tmp_path / "sharded")
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00001.safetensors")
    index = {"metadata": {}, "weight_map": {"bert.embeddings.word_embeddings.weight":
                                            "../../etc/model.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(UnsafeArtifact, match="plain file name"):
        api.services.registry.register(sharded, tenant="default", name="sharded", created_by="test")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[: len(data) // 2], "truncated or corrupt"),
        (lambda data: b"\xff" * 8 + data[8:], "header length"),
        (lambda data: b"\x05" + b"\x00" * 7 + b"[1,2]" + data[13:], "not an object"),
        (lambda data: data[:3], "shorter than its header"),
    ],
)
def test_corrupt_safetensors_are_refused_at_registration(
    api: Api, classifier_dir: Path, tmp_path: Path, damage: Any, message: str
) -> None:
    broken = copy_of(classifier_dir, tmp_path / "broken")
    weights = broken / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(Invalid, match=message):
        api.services.registry.register(broken, tenant="default", name="broken", created_by="test")


def test_speech_and_other_encoder_decoders_are_not_text2text(api: Api, t5_dir: Path,
                                                            tmp_path: Path) -> None:
    whisper = shutil.copytree(t5_dir, tmp_path / "whisper")
    config = json.loads((whisper / "config.json").read_text())
    config.update(model_type="whisper", architectures=["WhisperForConditionalGeneration"])
    (whisper / "config.json").write_text(json.dumps(config))
    with pytest.raises(Invalid, match="not a transformers model aiaas serves"):
        api.services.registry.register(whisper, tenant="default", name="whisper", created_by="test")


def test_an_image_model_without_its_processor_is_refused(api: Api, vit_dir: Path,
                                                         tmp_path: Path) -> None:
    bare = write_tree(tmp_path / "bare", {name: (vit_dir / name).read_bytes()
                                          for name in ("config.json", "model.safetensors")})
    with pytest.raises(Invalid, match=r"preprocessor_config\.json"):
        api.services.registry.register(bare, tenant="default", name="bare", created_by="test")
