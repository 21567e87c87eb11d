"""Text classifiers on their export: on ONNX Runtime the same probabilities (1e-4) and token
counts as transformers, by default on OpenVINO when it agrees with ONNX Runtime (1e-3), the
export cached per digest, and the transformers backend when the export fails its check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends import openvino_engine
from aiaas.runtime.backends.hf_sequence import HFSequenceBackend
from aiaas.runtime.backends.onnx_text_classifier import OnnxTextClassifierBackend
from aiaas.runtime.compile import sequence_onnx
from tests.runtime.tiny_models import TEXT_LABELS, build_text_classifier

TEXTS = ["good", "a bad and slow day at the clinic", "x", "mixed feelings " * 40]
CONFIG = {"labels": list(TEXT_LABELS)}
ORT_ONLY = ServingOptions(engine="onnxruntime")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_classifier(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> HFSequenceBackend:
    backend = HFSequenceBackend(model_dir, CONFIG, threads=1)
    backend.load()
    return backend


def assert_same_answers(ours: OnnxTextClassifierBackend, reference: HFSequenceBackend,
                        bound: float) -> None:
    texts = TEXTS + [f"held-out note {i}: " + "the invoice was paid late " * i for i in range(12)]
    for a, b in zip(ours.predict_batch(texts, {}), reference.predict_batch(texts, {}),
                    strict=True):
        assert a.output.label == b.output.label and a.tokens == b.tokens
        pa = np.asarray([a.output.probabilities[label] for label in TEXT_LABELS])
        pb = np.asarray([b.output.probabilities[label] for label in TEXT_LABELS])
        assert np.abs(pa - pb).max() <= bound


def test_onnx_matches_transformers(model_dir: Path, tmp_path: Path,
                                   reference: HFSequenceBackend) -> None:
    onnx = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="tiny",
                                     compile_root=tmp_path, options=ORT_ONLY)
    onnx.load()
    assert onnx.engine == "onnxruntime", onnx.engine_reason
    assert "engine_reason" not in onnx.describe()
    assert onnx.report["ok"] and onnx.report["max_abs_error"] <= 1e-4
    assert_same_answers(onnx, reference, 1e-4)


def test_by_default_openvino_serves_in_the_fastest_precision_that_agrees(
        model_dir: Path, tmp_path: Path, reference: HFSequenceBackend) -> None:
    backend = OnnxTextClassifierBackend(model_dir, CONFIG, threads=2, digest="tiny",
                                        compile_root=tmp_path, lanes=2)
    backend.load()
    assert backend.engine == "openvino", backend.engine_reason
    assert isinstance(backend.session, openvino_engine.OvSession) and backend.pool is None
    described = backend.describe()
    assert described["precision"] in openvino_engine.precisions() and "lanes" not in described
    if described["precision"] == "fp32" and openvino_engine.native_bf16():  # bf16 was tried
        assert described["engine_reason"].startswith("OpenVINO bf16: max probability error")
    else:
        assert "engine_reason" not in described
    assert_same_answers(backend, reference, 2 * openvino_engine.PROBABILITY_BOUND)


def test_a_precision_that_disagrees_gives_way_to_the_next_with_the_reason_shown(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        reference: HFSequenceBackend) -> None:
    """As a decisive MiniLM-size head does: bf16 moves its probabilities past 1e-3 (5e-3 over
    640 random sentences, ``bench/encoder_engines.py --task text-classification``), fp32
    agrees."""
    checked = openvino_engine.probability_problem
    verdicts = iter(["max probability error 5.20e-03 > 0.001"])  # the first precision tried

    def bf16_disagrees(got: np.ndarray, expected: np.ndarray, *, multi_label: bool) -> str:
        return next(verdicts, None) or checked(got, expected, multi_label=multi_label)

    monkeypatch.setattr(openvino_engine, "precisions", lambda: ["bf16", "fp32"])
    monkeypatch.setattr(openvino_engine, "probability_problem", bf16_disagrees)
    backend = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="tiny",
                                        compile_root=tmp_path)
    backend.load()
    described = backend.describe()
    assert (described["engine"], described["precision"]) == ("openvino", "fp32")
    assert described["engine_reason"] == "OpenVINO bf16: max probability error 5.20e-03 > 0.001"
    assert_same_answers(backend, reference, 1e-4)


def test_openvino_that_disagrees_leaves_onnx_runtime_serving_with_the_reason(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        reference: HFSequenceBackend) -> None:
    monkeypatch.setattr(openvino_engine, "probability_problem",
                        lambda *_, **__: "max probability error 3.00e-01 > 0.001")
    backend = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="tiny",
                                        compile_root=tmp_path)
    backend.load()
    got = backend.engine, backend.engine_reason
    assert got[0] == "onnxruntime" and got[1].startswith("OpenVINO not used: OpenVINO "), got
    assert "max probability error" in got[1] and backend.describe()["precision"] == "fp32"
    assert_same_answers(backend, reference, 1e-4)


def test_the_probability_check_names_the_largest_difference() -> None:
    logits = np.asarray([[2.0, 0.0, -1.0], [0.5, 0.5, 0.1]])
    assert openvino_engine.probability_problem(logits + 1e-7, logits, multi_label=False) == ""
    shifted = logits + np.asarray([[0.0, 0.1, 0.0], [0.0, 0.0, 0.0]])
    problem = openvino_engine.probability_problem(shifted, logits, multi_label=False)
    assert problem.startswith("max probability error 1.") and problem.endswith("> 0.001")
    assert openvino_engine.probability_problem(shifted, logits, multi_label=True) != ""


def test_a_failed_check_serves_on_transformers(model_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def diverging(source: Path, target: Path, *, threads: int, multi_label: bool) -> dict[str, object]:
        return {"ok": False, "reason": "ONNX export differs from transformers: max probability "
                                       "error 3.00e-01 (<= 0.0001 needed)"}

    monkeypatch.setattr(sequence_onnx, "export", diverging)
    backend = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="bad",
                                        compile_root=tmp_path)
    backend.load()
    assert backend.engine == "pytorch" and "max probability error" in backend.engine_reason
    assert backend.describe()["engine_reason"] == backend.engine_reason
    assert backend.predict_batch(["good"], {})[0].output.label in TEXT_LABELS


def test_a_tokenizer_with_neither_pad_nor_end_token_serves_one_text_at_a_time(
        model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "no-pad"
    shutil.copytree(model_dir, root)
    config = json.loads((root / "tokenizer_config.json").read_text())
    config = {k: v for k, v in config.items() if k not in ("pad_token", "eos_token")}
    (root / "tokenizer_config.json").write_text(json.dumps(config))
    (root / "special_tokens_map.json").unlink(missing_ok=True)
    backend = OnnxTextClassifierBackend(root, CONFIG, threads=1, digest="no-pad",
                                        compile_root=tmp_path / "compiled")
    backend.load()
    assert backend.engine == "pytorch" and "pad token" in backend.engine_reason
    got = backend.predict_batch(TEXTS, {})
    assert len(got) == len(TEXTS) and all(p.output.label in TEXT_LABELS for p in got)
