"""Typed outputs of the classifier tasks, and of explanations when a backend offers them.

A backend returns these in ``Prediction.output``; every consumer (the native API, the V2 tensor
protocol, evaluations, trainers) reads the fields instead of dictionary keys. They are frozen
dataclasses, which the native API's ``ORJSONResponse`` serialises field by field in declaration
order: the JSON is exactly the dictionaries returned before (``label``, ``score``,
``probabilities`` and, for text and image classifiers, ``top_k``), so the field order here is
part of the wire format. ``dataclasses.asdict`` gives the same dictionary (``top_k`` a tuple)
for other encoders.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Classification:
    """One classified item: the best label, its score, and every label's probability (in the
    model's label order; multi-label models score each label on its own)."""

    label: str
    score: float
    probabilities: dict[str, float]


@dataclass(frozen=True, slots=True)
class RankedClassification(Classification):
    """A classification with the ``top_k`` best labels, best first (text and image tasks)."""

    top_k: tuple[LabelScore, ...]


@dataclass(frozen=True, slots=True)
class Attribution:
    """How much one part of the input (a feature, a token, an image region, named as the task
    names it) moved the explained label's score; positive values pushed towards it."""

    name: str
    weight: float
    start: int | None = None
    """Where ``name`` begins in the text it came from (a word's character offset), else None."""
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one item got ``label``, as a gradient method on the loaded model says it
    (``runtime.backends.base.Explainable``): per word of a text, in the text's order, or a heat
    map over an image. ``output_value`` is the label's output (probability or log-odds) on the
    item; ``base_value`` the same on the method's baseline, so that with Integrated Gradients
    ``base_value`` + the attributions = ``output_value`` up to ``delta`` (captum's convergence
    delta); Grad-CAM has no baseline and does not add up (``base_value`` and ``delta`` None)."""

    label: str
    method: str
    output_value: float
    base_value: float | None
    delta: float | None
    attributions: tuple[Attribution, ...] = ()
    heatmap: tuple[tuple[float, ...], ...] = ()
    """Image rows of the explained grid (the image shrunk to the side asked for), one value per
    pixel; empty for texts."""
    evaluations: int = 0
    """Model evaluations spent (forward and backward passes count once each per input)."""
