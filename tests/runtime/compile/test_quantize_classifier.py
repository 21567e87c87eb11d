"""int8 text classifiers: the build's delta is the share of check texts whose top label changes,
the backend serves the int8 graph only within the version's bound, and what it serves for the
check texts is exactly what the build measured."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.onnx_text_classifier import OnnxTextClassifierBackend
from aiaas.runtime.compile import quantize, quantize_classifier, sequence_onnx
from aiaas.runtime.compile.cache import Compiled
from aiaas.tasks.outputs import Classification
from tests.runtime.tiny_models import TEXT_LABELS, build_text_classifier

CONFIG = {"labels": list(TEXT_LABELS)}
TEXTS = ["good", "a bad and slow day at the clinic", "x", "mixed feelings " * 40]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_classifier(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def compile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="module")
def built(model_dir: Path, compile_root: Path) -> Compiled:
    return quantize_classifier.compiled(compile_root, "tiny", model_dir, threads=1, multi_label=False)


def _backend(model_dir: Path, compile_root: Path, **options: object) -> OnnxTextClassifierBackend:
    backend = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="tiny",
                                        compile_root=compile_root,
                                        options=ServingOptions.model_validate(
                                            {"engine": "onnxruntime", **options}))
    backend.load()
    return backend


def _probabilities(outputs: list[Classification]) -> np.ndarray:
    return np.asarray([[o.probabilities[label] for label in TEXT_LABELS] for o in outputs])


def test_the_delta_is_the_share_of_changed_top_labels() -> None:
    fp32 = np.asarray([[2.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    int8 = np.asarray([[1.0, 2.0], [0.0, 1.5], [1.0, 0.0], [0.0, 3.0]])
    measured = quantize_classifier.compare_labels(fp32, int8, multi_label=False)
    assert measured["changed"] == 1 and measured["agreement"] == 0.75 and measured["delta"] == 0.25
    flipped = sequence_onnx.probabilities(fp32[:1], False) - sequence_onnx.probabilities(int8[:1], False)
    assert measured["max_abs_error"] == pytest.approx(np.abs(flipped).max())
    sigmoid = quantize_classifier.compare_labels(fp32, int8, multi_label=True)
    assert sigmoid["changed"] == 1, "multi-label models compare their top label too"


def test_the_build_is_quantised_measured_and_cached(built: Compiled, model_dir: Path,
                                                    compile_root: Path) -> None:
    report = built.report
    assert built.ok and built.directory.name == "tiny-seq-onnx-int8"
    assert report["samples"] == len(quantize.check_texts())
    assert 0 <= report["delta"] <= 1 and report["delta"] == pytest.approx(1 - report["agreement"])
    assert report["changed"] == round(report["delta"] * report["samples"])
    assert 0 <= report["max_abs_error"] <= 1 and "top label" in report["delta_means"]
    fp32_file = compile_root / "tiny-seq-onnx-fp32" / sequence_onnx.MODEL_FILE
    assert report["size_bytes"] == (built.directory / quantize.INT8_FILE).stat().st_size
    assert report["size_bytes"] < fp32_file.stat().st_size
    again = quantize_classifier.compiled(compile_root, "tiny", model_dir, threads=1, multi_label=False)
    assert again.report == json.loads((built.directory / "report.json").read_text()) == report


def test_int8_serves_probabilities_and_the_measured_labels(built: Compiled, model_dir: Path,
                                                           compile_root: Path) -> None:
    fp32 = _backend(model_dir, compile_root)
    int8 = _backend(model_dir, compile_root, precision="int8", max_accuracy_delta=1.0)
    assert fp32.engine == "onnxruntime" and int8.engine == "onnxruntime-int8", int8.engine_reason
    described = int8.describe()
    assert described["precision"] == "int8" and described["int8"] == built.report
    assert described["export_check"]["ok"]

    ours, theirs = int8.predict_batch(TEXTS, {}), fp32.predict_batch(TEXTS, {})
    for a, b in zip(ours, theirs, strict=True):
        assert a.output.label in TEXT_LABELS and a.tokens == b.tokens
        assert sum(a.output.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert a.output.score == max(a.output.probabilities.values())

    texts = quantize.check_texts()
    served = [p.output for p in int8.predict_batch(texts, {})]
    reference = [p.output for p in fp32.predict_batch(texts, {})]
    changed = sum(a.label != b.label for a, b in zip(served, reference, strict=True))
    assert changed == built.report["changed"], "the check texts served as one batch, as measured"
    error = np.abs(_probabilities(served) - _probabilities(reference)).max()
    assert error == pytest.approx(built.report["max_abs_error"], abs=1e-5)


def test_over_the_bound_serves_the_fp32_export(built: Compiled, model_dir: Path,
                                               compile_root: Path) -> None:
    assert built.report["changed"] > 0, "the tiny random model changes some labels under int8"
    fp32 = _backend(model_dir, compile_root)
    strict = _backend(model_dir, compile_root, precision="int8", max_accuracy_delta=0.0)
    assert strict.engine == "onnxruntime" and "int8 not used" in strict.engine_reason
    assert strict.describe()["precision"] == "fp32" and "int8" not in strict.describe()
    ours, theirs = strict.predict_batch(TEXTS, {}), fp32.predict_batch(TEXTS, {})
    assert np.array_equal(_probabilities([p.output for p in ours]),
                          _probabilities([p.output for p in theirs]))


def test_half_precision_still_runs_on_transformers(model_dir: Path, compile_root: Path) -> None:
    backend = _backend(model_dir, compile_root, precision="fp16")
    assert backend.engine == "pytorch" and "fp32 or int8 on the CPU only" in backend.engine_reason
    assert backend.predict_batch(["good"], {})[0].output.label in TEXT_LABELS


def test_no_int8_build_without_a_verified_fp32_export(model_dir: Path, tmp_path: Path) -> None:
    failed = {"ok": False, "reason": "ONNX export differs from transformers: max probability "
                                     "error 3.00e-01 (<= 0.0001 needed)"}
    entry = tmp_path / "bad-seq-onnx-fp32"
    entry.mkdir()
    (entry / "report.json").write_text(json.dumps(failed))  # what a failed check leaves cached
    built = quantize_classifier.compiled(tmp_path, "bad", model_dir, threads=1, multi_label=False)
    assert not built.ok and "fp32 ONNX export failed its check" in built.reason
    assert "max probability error" in built.reason
    assert not (tmp_path / "bad-seq-onnx-int8").exists()
