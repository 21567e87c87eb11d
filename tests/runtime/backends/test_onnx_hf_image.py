"""transformers image classifiers on their export: on ONNX Runtime the same probabilities as
transformers (1e-4), by default on OpenVINO when it agrees with ONNX Runtime (1e-3), the export
cached per digest, and the transformers backend when the export fails its check."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiaas.errors import BackendError
from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends import openvino_engine
from aiaas.runtime.backends.hf_image import HFImageBackend
from aiaas.runtime.backends.onnx_hf_image import OnnxHFImageBackend
from aiaas.runtime.compile import image_onnx
from aiaas.tasks.outputs import RankedClassification
from tests.runtime.tiny_models import IMAGE_LABELS, build_image_classifier, picture

CONFIG = {"labels": list(IMAGE_LABELS)}
ORT_ONLY = ServingOptions(engine="onnxruntime")


def images() -> list[Any]:
    from PIL import Image

    shapes = [("PNG", (48, 40)), ("JPEG", (64, 64)), ("WEBP", (40, 56)), ("PNG", (100, 30)),
              ("JPEG", (7, 9))]
    return [Image.open(io.BytesIO(picture(fmt, size, seed=seed))).convert("RGB")
            for seed, (fmt, size) in enumerate(shapes)] * 8  # 40: more than one ONNX chunk


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image_classifier(tmp_path_factory.mktemp("vit") / "pets")


def probabilities(output: RankedClassification) -> np.ndarray[Any, Any]:
    return np.asarray([output.probabilities[label] for label in IMAGE_LABELS])


@pytest.mark.parametrize("multi_label", [False, True])
def test_onnx_matches_transformers(model_dir: Path, tmp_path: Path, multi_label: bool) -> None:
    config = CONFIG | {"multi_label": multi_label}
    onnx = OnnxHFImageBackend(model_dir, config, threads=1, digest="tiny", compile_root=tmp_path,
                              options=ORT_ONLY)
    onnx.load()
    assert onnx.engine == "onnxruntime", onnx.engine_reason
    assert onnx.report["ok"] and onnx.report["max_abs_error"] <= 1e-4
    assert onnx.report["samples"] == len(image_onnx.sample_images())
    described = onnx.describe()
    assert described["engine"] == "onnxruntime" and "engine_reason" not in described
    assert described["export_check"] == {"ok": True, "max_abs_error": onnx.report["max_abs_error"]}
    reference = HFImageBackend(model_dir, config, threads=1)
    reference.load()
    pictures = images()
    ours = onnx.predict_batch(pictures, {"top_k": 2})
    theirs = reference.predict_batch(pictures, {"top_k": 2})
    assert len(ours) == len(pictures)
    for a, b in zip(ours, theirs, strict=True):
        assert a.output.label == b.output.label
        assert [e.label for e in a.output.top_k] == [e.label for e in b.output.top_k]
        assert np.abs(probabilities(a.output) - probabilities(b.output)).max() <= 1e-4
    assert len({round(out.output.score, 6) for out in ours[:5]}) == 5  # the images differ


@pytest.mark.parametrize("multi_label", [False, True])
def test_by_default_openvino_serves_when_it_agrees(model_dir: Path, tmp_path: Path,
                                                   multi_label: bool) -> None:
    config = CONFIG | {"multi_label": multi_label}
    backend = OnnxHFImageBackend(model_dir, config, threads=2, digest="ov", compile_root=tmp_path)
    backend.load()
    assert backend.engine == "openvino", backend.engine_reason
    assert isinstance(backend.session, openvino_engine.OvSession)
    assert backend.describe()["precision"] in openvino_engine.precisions()
    reference = HFImageBackend(model_dir, config, threads=1)
    reference.load()
    pictures = images()
    ours = backend.predict_batch(pictures, {})
    theirs = reference.predict_batch(pictures, {})
    for a, b in zip(ours, theirs, strict=True):
        difference = np.abs(probabilities(a.output) - probabilities(b.output)).max()
        assert difference <= 2 * openvino_engine.PROBABILITY_BOUND


def test_openvino_that_disagrees_leaves_onnx_runtime_serving(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_engine, "probability_problem",
                        lambda *_, **__: "max probability error 2.00e-01 > 0.001")
    backend = OnnxHFImageBackend(model_dir, CONFIG, threads=1, digest="ov", compile_root=tmp_path)
    backend.load()
    assert backend.engine == "onnxruntime"
    assert "OpenVINO not used" in backend.describe()["engine_reason"]
    assert backend.predict_batch(images()[:1], {})[0].output.label in IMAGE_LABELS


def test_the_export_is_reused(model_dir: Path, tmp_path: Path) -> None:
    first = OnnxHFImageBackend(model_dir, CONFIG, threads=1, digest="again", compile_root=tmp_path,
                               options=ORT_ONLY)
    first.load()
    assert first.engine == "onnxruntime", first.engine_reason
    (entry,) = tmp_path.iterdir()
    built = (entry / image_onnx.MODEL_FILE).stat()
    first.unload()
    second = OnnxHFImageBackend(model_dir, CONFIG, threads=1, digest="again", compile_root=tmp_path,
                                options=ORT_ONLY)
    second.load()
    assert second.engine == "onnxruntime" and second.report == first.report
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]
    again = (entry / image_onnx.MODEL_FILE).stat()
    assert (again.st_ino, again.st_mtime_ns) == (built.st_ino, built.st_mtime_ns)


def test_a_failed_check_serves_on_transformers(model_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    # A bound no real export can meet: the export and the comparison run for real and fail.
    monkeypatch.setattr(image_onnx, "MAX_ABS_ERROR", -1.0)
    backend = OnnxHFImageBackend(model_dir, CONFIG, threads=1, digest="strict",
                                 compile_root=tmp_path)
    with caplog.at_level(logging.WARNING, logger="aiaas.runtime"):
        backend.load()
    assert backend.engine == "pytorch" and "max probability error" in backend.engine_reason
    assert any("falls back to transformers" in r.message for r in caplog.records)
    report = json.loads((tmp_path / f"strict-{image_onnx.KIND}" / "report.json").read_text())
    assert report["ok"] is False, "a failed check is cached, not re-exported at every load"
    described = backend.describe()
    assert described["engine_reason"] == backend.engine_reason
    assert described["export_check"]["ok"] is False
    output = backend.predict_batch(images()[:2], {})[0].output
    assert output.label in IMAGE_LABELS


def test_a_label_mismatch_is_refused(model_dir: Path, tmp_path: Path) -> None:
    backend = OnnxHFImageBackend(model_dir, {"labels": ["cat", "dog"]}, threads=1,
                                 digest="two", compile_root=tmp_path)
    with pytest.raises(BackendError, match="3 outputs but 2 labels"):
        backend.load()


def test_a_processor_error_is_a_backend_error(model_dir: Path, tmp_path: Path) -> None:
    backend = OnnxHFImageBackend(model_dir, CONFIG, threads=1, digest="bad", compile_root=tmp_path)
    backend.load()
    with pytest.raises(BackendError, match="image processor failed"):
        backend.predict_batch([np.zeros((4, 4, 4, 4), dtype=np.uint8)], {})
