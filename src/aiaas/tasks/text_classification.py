"""Text classification: strings in; ``{"label", "score", "probabilities", "top_k"}`` out.

Served by transformers ``*ForSequenceClassification`` directories and by a linear head on
sentence embeddings (``backends/embedding_head.py``). Labels come from
``config.id2label`` (or ``aiaas.json``). ``probabilities`` holds every label; ``top_k`` lists
the ``k`` best as ``{"label", "score"}``, best first (parameter ``top_k``, default: all labels).
A model whose ``problem_type`` is ``multi_label_classification`` scores each label on its own
(sigmoid), so its probabilities need not sum to 1; otherwise they do (softmax).

``check_top_k`` and ``classification_output`` are shared with image classification.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, check_text
from aiaas.tasks.outputs import LabelScore, RankedClassification

if TYPE_CHECKING:
    from aiaas.formats import Detected


def classification_output(labels: Sequence[str], scores: Sequence[float], top_k: int | None
                          ) -> RankedClassification:
    """The output of one classified item: best label, all probabilities, the ``top_k`` best."""
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], i))
    best = order[0]
    ranked = order if top_k is None else order[:top_k]
    return RankedClassification(
        label=labels[best],
        score=float(scores[best]),
        probabilities={label: float(score) for label, score in zip(labels, scores, strict=True)},
        top_k=tuple(LabelScore(labels[i], float(scores[i])) for i in ranked),
    )


def check_top_k(parameters: dict[str, Any], task: str, default: int | None) -> int | None:
    """``parameters`` may hold only ``top_k``: a positive integer (more than the labels = all)."""
    unknown = set(parameters) - {"top_k"}
    if unknown:
        raise Invalid(f"unknown parameter(s) for {task}: {', '.join(sorted(unknown))}; known: top_k",
                      details={"field": "parameters"})
    top_k = parameters.get("top_k", default)
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise Invalid.at("parameters.top_k", f"must be a positive integer, got {top_k!r}",
                         naming="subject")
    return top_k


def classification_schema(labels: list[str]) -> dict[str, Any]:
    ranked = {"type": "object", "properties": {"label": {"enum": labels}, "score": {"type": "number"}},
              "required": ["label", "score"]}
    return {
        "type": "object",
        "properties": {
            "label": {"enum": labels},
            "score": {"type": "number"},
            "probabilities": {"type": "object",
                              "properties": {label: {"type": "number"} for label in labels}},
            "top_k": {"type": "array", "items": ranked},
        },
        "required": ["label", "score", "probabilities", "top_k"],
    }


def transformers_labels(detected: Detected, source: Path, task: str) -> dict[str, Any]:
    """Config shared by the transformers classifiers: labels and single/multi-label."""
    from aiaas.formats.hf import FORMAT, hf_labels, read_hf_config

    if detected.format != FORMAT:
        raise Invalid(f"{task} is served from transformers directories, not {detected.format}")
    config = read_hf_config(source)
    if config.get("problem_type") == "regression":
        raise Invalid("the model's problem_type is regression, not classification")
    return {
        "architecture": detected.config["architecture"],
        "labels": hf_labels(config, list(detected.manifest.labels)),
        "multi_label": config.get("problem_type") == "multi_label_classification",
    }


class TextClassificationTask(Task):
    name = "text-classification"
    unit = "tokens"

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        if detected.format == "embedding-head":  # labels checked against the head at detection
            return dict(detected.config)
        return transformers_labels(detected, source, self.name)

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return classification_schema(list(config.get("labels", [])))

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        return check_text(item, index, limits)

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {"top_k": check_top_k(parameters, self.name, None)}
