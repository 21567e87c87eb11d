"""Text classifiers on ONNX Runtime: the same probabilities and token counts as transformers,
the export cached per digest, and the transformers backend when the export fails its check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aiaas.runtime.backends.hf_sequence import HFSequenceBackend
from aiaas.runtime.backends.onnx_text_classifier import OnnxTextClassifierBackend
from aiaas.runtime.compile import sequence_onnx
from tests.runtime.tiny_models import TEXT_LABELS, build_text_classifier

TEXTS = ["good", "a bad and slow day at the clinic", "x", "mixed feelings " * 40]
CONFIG = {"labels": list(TEXT_LABELS)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_classifier(tmp_path_factory.mktemp("tiny-bert"))


def test_onnx_matches_transformers(model_dir: Path, tmp_path: Path) -> None:
    onnx = OnnxTextClassifierBackend(model_dir, CONFIG, threads=1, digest="tiny",
                                     compile_root=tmp_path)
    onnx.load()
    assert onnx.engine == "onnxruntime", onnx.engine_reason
    assert onnx.report["ok"] and onnx.report["max_abs_error"] <= 1e-4
    reference = HFSequenceBackend(model_dir, CONFIG, threads=1)
    reference.load()
    ours, theirs = onnx.predict_batch(TEXTS, {}), reference.predict_batch(TEXTS, {})
    for a, b in zip(ours, theirs, strict=True):
        assert a.output.label == b.output.label and a.tokens == b.tokens
        pa = np.asarray([a.output.probabilities[label] for label in TEXT_LABELS])
        pb = np.asarray([b.output.probabilities[label] for label in TEXT_LABELS])
        assert np.abs(pa - pb).max() <= 1e-4


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
