"""The attribution methods, all SHAP's (``shap``): nothing here is hand-written math.

- Tabular models: exact SHAP (``shap.explainers.Exact``) up to ``EXACT_MAX_FEATURES`` features,
  else permutation SHAP (``shap.explainers.Permutation``: antithetic permutations, so the values
  add up exactly to the output minus the base value), over an independent background sample.
- Text classifiers: partition SHAP (``shap.explainers.Partition``) over the words of the text
  (``shap.maskers.Text`` with a word regex): words are hidden in a hierarchy of groups, so a
  sentence of n words costs far fewer than 2^n evaluations.

Each takes the version's own predictions as the function to explain (``Scorer``): methods see
the served model exactly as callers do, whatever its framework. Every result keeps SHAP's
promise: base value + sum of attributions = the explained output.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EXACT_MAX_FEATURES = 10
IMAGE_SIDE = 64
"""SHAP explains images shrunk to at most this many pixels a side: its partition over pixels
grows with their number; its map is then shared out onto the heat map's grid."""
HEATMAP_SIDE = 256
"""Heat maps are given at the image's own size up to this many pixels a side, unless the caller
asks for another side (``MAX_HEATMAP_SIDE`` at most)."""
MAX_HEATMAP_SIDE = 1024
WORDS = r"\W+"


def _shap() -> Any:
    """``shap``, imported once: its import touches deprecated matplotlib APIs, warnings that
    say nothing about a caller's explanation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap
    return shap


@dataclass
class Scorer:
    """The model's output for one label (or its value) as a vectorised function, counting
    every evaluation. ``predict`` takes a list of checked items and returns Predictions."""

    predict: Callable[[list[Any]], list[Any]]
    target: str | None
    log_odds: bool = False
    evaluations: int = 0
    chunk: int = 64

    def score_one(self, output: Any) -> float:
        if self.target is None:
            return float(output["value"] if isinstance(output, dict) else output.value)
        probability = float(output.probabilities[self.target])
        if not self.log_odds:
            return probability
        clipped = min(max(probability, 1e-12), 1 - 1e-12)
        return math.log(clipped / (1 - clipped))

    def __call__(self, items: Any) -> np.ndarray[Any, Any]:
        rows = [item.tolist() if isinstance(item, np.ndarray) else item for item in items]
        scores: list[float] = []
        for start in range(0, len(rows), self.chunk):
            batch = rows[start:start + self.chunk]
            scores.extend(self.score_one(p.output) for p in self.predict(batch))
        self.evaluations += len(rows)
        return np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class Attributions:
    """What each part added to the output; with ``base_value`` they sum to the scorer's output
    on the item as given (the caller has it from the prediction already)."""

    values: list[float]
    base_value: float
    parts: list[str]
    """What each value belongs to: feature names, or the text's words (tabular, text)."""


def tabular(scorer: Callable[[Any], np.ndarray[Any, Any]], rows: list[list[float]],
            background: list[list[float]], *, method: str, samples: int | None,
            features: list[str]) -> list[Attributions]:
    """SHAP values of each row's features against ``background``. ``scorer``: a ``Scorer``, or
    any function of float rows (a forecaster's residual model)."""
    shap = _shap()
    data = np.asarray(rows, dtype=np.float64)
    masker = shap.maskers.Independent(np.asarray(background, dtype=np.float64),
                                      max_samples=len(background))
    if method == "exact":
        explainer: Any = shap.explainers.Exact(scorer, masker, feature_names=features)
        result = explainer(data, silent=True)
    else:
        explainer = shap.explainers.Permutation(scorer, masker, feature_names=features)
        width = data.shape[1]
        result = explainer(data, max_evals=max(samples or 10 * width, 2 * width + 1),
                           silent=True)
    return [Attributions([float(v) for v in result.values[i]], float(result.base_values[i]),
                         features) for i in range(len(rows))]


def text(scorer: Scorer, texts: list[str], *, samples: int | None) -> list[Attributions]:
    """SHAP values of each text's words (``parts`` are the tokens as SHAP split them)."""
    shap = _shap()
    masker = shap.maskers.Text(WORDS)
    explainer = shap.explainers.Partition(lambda batch: scorer(list(batch)), masker)
    explained = []
    for item in texts:
        result = explainer(np.asarray([item], dtype=object), max_evals=samples or 300,
                           silent=True)
        explained.append(Attributions([float(v) for v in result.values[0]],
                                      float(result.base_values[0]),
                                      [str(token) for token in result.data[0]]))
    return explained


@dataclass(frozen=True)
class HeatMap:
    values: Any
    """Per-pixel values (a float array) of the image shrunk to ``IMAGE_SIDE`` at most a side."""
    base_value: float
    output_value: float
    """The label's score on the shrunk image the values explain (not the original's)."""


def image(scorer: Scorer, images: list[Any], *, samples: int | None) -> list[HeatMap]:
    """Partition SHAP over pixels, each hidden by the image's mean colour; the values of the
    three channels summed per pixel."""
    from PIL import Image

    shap = _shap()
    maps = []
    for item in images:
        small = item.convert("RGB")
        small.thumbnail((IMAGE_SIDE, IMAGE_SIDE))
        pixels = np.asarray(small, dtype=np.float64)
        fill = np.broadcast_to(pixels.mean(axis=(0, 1)), pixels.shape).copy()

        def score(batch: Any) -> np.ndarray[Any, Any]:
            return scorer([Image.fromarray(np.clip(x, 0, 255).astype(np.uint8)) for x in batch])

        explainer = shap.explainers.Partition(score, shap.maskers.Image(fill, pixels.shape))
        result = explainer(pixels[None], max_evals=samples or 500, batch_size=64, silent=True)
        maps.append(HeatMap(np.asarray(result.values[0]).sum(axis=-1),
                            float(np.asarray(result.base_values).ravel()[0]),
                            float(scorer([small])[0])))
    return maps


def shown(picture: Any, heat: Any, side: int) -> tuple[list[list[float]], bytes]:
    """The heat map on the grid of ``picture`` shrunk to ``side`` (never enlarged), with its
    overlay PNG at that size. ``heat`` must already be on that grid or keep a total (SHAP's
    map, on a coarser grid, is shared out with its total kept, so it still adds up)."""
    import torch

    from aiaas.runtime.gradients import grid_size, onto_grid, spread

    rows, columns = grid_size(picture, side)
    values = torch.as_tensor(np.asarray(heat, dtype=np.float64))
    finer = rows * columns >= values.numel()
    regridded = (spread if finer else onto_grid)(values, rows, columns).numpy()
    small = picture.convert("RGB").resize((columns, rows))
    return regridded.tolist(), overlay(small, regridded)


def overlay(picture: Any, heat: np.ndarray[Any, Any]) -> bytes:
    """The picture in grey with the heat map over it: red where pixels pushed towards the
    label, blue where they pushed away, stronger where they pushed more (PNG)."""
    import io

    from PIL import Image

    grey = np.asarray(picture.convert("L"), dtype=np.float64)[..., None].repeat(3, axis=-1)
    scale = float(np.abs(heat).max()) or 1.0
    strength = np.clip(np.abs(heat) / scale, 0, 1)[..., None]
    colour = np.where(heat[..., None] >= 0, [[[230.0, 30.0, 30.0]]], [[[30.0, 60.0, 230.0]]])
    blended = grey * (1 - 0.7 * strength) + colour * 0.7 * strength
    out = io.BytesIO()
    Image.fromarray(blended.astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def word_spans(item: str, tokens: list[str]) -> list[tuple[str, int, int]]:
    """Each token as (word, start, end) in ``item``: the token stripped of the separators SHAP
    keeps on it, found in order."""
    spans, cursor = [], 0
    for token in tokens:
        word = re.sub(r"\W+$", "", token.strip())
        start = item.find(word, cursor) if word else cursor
        if start < 0:
            start = cursor
        end = start + len(word)
        spans.append((word, start, end))
        cursor = max(cursor, end)
    return spans
