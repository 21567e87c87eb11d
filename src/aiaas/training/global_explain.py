"""Global explanations of a trained model: what it relies on over many held-out rows, beside the
per-call explanations of ``aiaas.explain`` (which this layer may not import).

- ``feature_importance`` (tabular): scikit-learn's ``permutation_importance``, accuracy or R^2
  lost when one feature's column is shuffled, ``IMPORTANCE_REPEATS`` times.
- ``influential_words`` (text classifiers): SHAP's partition explainer over the words of each
  text (``shap.maskers.Text(r"\\W+")``), one explanation per text covering every class, then
  each word's mean attribution per class over the texts it occurs in.

Both take the model as a plain function (rows to predictions, texts to probabilities), so a
training job passes the backend it evaluated with and an evaluation the front door: the numbers
describe the model as it is served. ``plan`` says what an evaluation explains and on which of
its rows (a seeded sample, bounded by ``IMPORTANCE_BUDGET`` or ``WORD_TEXTS``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

IMPORTANCE_REPEATS = 5
IMPORTANCE_BUDGET = 50_000
"""Most row predictions one permutation importance may cost: rows x (features x repeats + 1)."""
WORD_TEXTS = 64
"""Most held-out texts whose words are explained."""
WORD_EVALS = 64
"""Model evaluations SHAP may spend per text: single words for texts up to about 30 words (the
reviews of ``builtin:sentiment`` have 12 on average, ~25 evaluations); a longer text ends with
some words judged together, as a group."""
WORD_BATCH = 32
"""Masked texts per model call while explaining one text."""
TOP_WORDS = 10
MIN_TEXTS = 2
"""A word counts only when it occurs in at least this many explained texts."""
WORDS = r"\W+"
FIXED_CONTEXT = 1
"""Each group of words is judged by hiding it from the text with the rest present: the partition
tree is then explored down to single words in about 2 evaluations per word (the default, both
contexts, needs several times more for the same depth). On 64 ``builtin:sentiment`` reviews it
put the same two words first for the positive class as the default, at 40% of its evaluations."""
_EDGES = re.compile(r"^\W+|\W+$")

Predict = Callable[[np.ndarray[Any, Any]], np.ndarray[Any, Any]]
"""Rows (one per line of a float matrix) to predicted labels or values."""
Probabilities = Callable[[list[str]], np.ndarray[Any, Any]]
"""Texts to a probability matrix: one row per text, one column per class."""


def sample(count: int, most: int, seed: int) -> np.ndarray[Any, Any]:
    """Indices of a seeded draw of at most ``most`` of ``count`` rows, in their order (all of
    them when there are no more)."""
    if count <= most:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=most, replace=False))


def importance_rows(features: int, repeats: int = IMPORTANCE_REPEATS,
                    budget: int = IMPORTANCE_BUDGET) -> int:
    """Most rows a permutation importance over ``features`` stays within ``budget`` with."""
    return max(2, budget // (features * repeats + 1))


def feature_importance(predict: Predict, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], *,
                       classify: bool, features: list[str], seed: int,
                       repeats: int = IMPORTANCE_REPEATS) -> dict[str, dict[str, float]]:
    """``{feature: {"mean", "std"}}`` of the score lost when the feature is shuffled (accuracy
    for a classifier, R^2 otherwise), most important first. ``predict`` is called once for
    the unshuffled rows and once per feature and repeat, with every row each time."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, r2_score

    def score(model: _Predicting, rows: np.ndarray[Any, Any], truth: np.ndarray[Any, Any]) -> float:
        predicted = model.predict(rows)
        return float(accuracy_score(truth, predicted) if classify else r2_score(truth, predicted))

    found = permutation_importance(_Predicting(predict), np.asarray(x, dtype=np.float64), y,
                                   scoring=score, n_repeats=repeats, random_state=seed)
    order = np.argsort(-found.importances_mean, kind="stable")
    return {features[i]: {"mean": round(float(found.importances_mean[i]), 6),
                          "std": round(float(found.importances_std[i]), 6)} for i in order}


def predictions(outputs: list[Any], *, classify: bool) -> np.ndarray[Any, Any]:
    """Served tabular outputs as what ``feature_importance`` scores: labels, or values."""
    if classify:
        return np.asarray([str(output.label) for output in outputs])
    return np.asarray([float(output["value"]) for output in outputs], dtype=np.float64)


class _Predicting:
    """A predict function as the fitted estimator ``permutation_importance`` asks for."""

    def __init__(self, predict: Predict) -> None:
        self.predict = predict

    def fit(self, *_args: Any) -> _Predicting:
        return self


def _shap() -> Any:
    """``shap``, imported with its import-time deprecation warnings silenced (they say nothing
    about the model)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap
    return shap


def _word(token: str) -> str:
    return _EDGES.sub("", token).lower()


def influential_words(probabilities: Probabilities, texts: list[str], classes: list[str], *,
                      max_evals: int = WORD_EVALS, batch: int = WORD_BATCH,
                      done: Callable[[int], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """For each class, the words that push predictions towards it most: ``{class: [{"word",
    "attribution", "texts"}]}``, ``TOP_WORDS`` at most, highest mean attribution first, only
    words with a positive mean that occur in at least ``MIN_TEXTS`` of ``texts``. A word's
    attribution in a text is the sum over its occurrences there; words are compared lower-cased
    without surrounding punctuation. ``done(n)`` is called after each text (it may raise to
    stop). Each text costs up to ``max_evals`` texts scored by ``probabilities``, in a few
    calls of at most ``batch + 1``; the first call in a process also compiles shap's numba
    kernels (about 6 s on 2 cores)."""
    shap = _shap()
    seen: dict[str, np.ndarray[Any, Any]] = {}

    def scored(masked: Any) -> np.ndarray[Any, Any]:
        """Each distinct masked text scored once (every text's fully masked form is "...")."""
        wanted = list(dict.fromkeys(str(text) for text in masked if str(text) not in seen))
        if wanted:
            seen.update(zip(wanted, probabilities(wanted), strict=True))
        return np.asarray([seen[str(text)] for text in masked])

    explainer = shap.explainers.Partition(scored, shap.maskers.Text(WORDS), output_names=classes)
    totals: dict[str, np.ndarray[Any, Any]] = {}
    counts: dict[str, int] = {}
    for n, text in enumerate(texts, start=1):
        if not re.search(r"\w", text):  # nothing to attribute
            if done is not None:
                done(n)
            continue
        result = explainer(np.asarray([text], dtype=object), max_evals=max_evals, batch_size=batch,
                           fixed_context=FIXED_CONTEXT, silent=True)
        found: dict[str, np.ndarray[Any, Any]] = {}
        for token, values in zip(result.data[0], np.asarray(result.values[0]), strict=True):
            word = _word(str(token))
            if word:
                found[word] = found.get(word, 0) + values
        for word, values in found.items():
            totals[word] = totals.get(word, 0) + values
            counts[word] = counts.get(word, 0) + 1
        if done is not None:
            done(n)
    common = [word for word, count in counts.items() if count >= MIN_TEXTS]
    means = {word: totals[word] / counts[word] for word in common}
    ranked: dict[str, list[dict[str, Any]]] = {}
    for column, name in enumerate(classes):
        order = sorted((w for w in common if means[w][column] > 0),
                       key=lambda w: (-means[w][column], w))[:TOP_WORDS]
        ranked[name] = [{"word": w, "attribution": round(float(means[w][column]), 6),
                         "texts": counts[w]} for w in order]
    return ranked


TABULAR = ("tabular-classification", "tabular-regression")
TEXT = "text-classification"
Served = Callable[[list[Any]], list[Any]]
"""Checked items (a tabular row as its floats in feature order, a text) to the served outputs."""


@dataclass(frozen=True)
class Planned:
    """A global explanation an evaluation computes: ``inputs`` are the rows it needs (sent as
    one explain call, so they are checked like any call's), ``compute`` turns their checked
    items and the served model into the result's entries."""

    inputs: list[Any]
    compute: Callable[[list[Any], Served], dict[str, Any]]


def plan(task: str, inputs: list[Any], truth: np.ndarray[Any, Any], *, labels: list[str],
         features: list[str], seed: int, most: int) -> Planned | None:
    """What an evaluation of ``task`` on ``inputs`` (with their ``truth``) explains, on a seeded
    sample of at most ``most`` of them: permutation importance for tabular models (within
    ``IMPORTANCE_BUDGET`` predictions), influential words for text classifiers (``WORD_TEXTS``
    texts); None for other tasks. The entries say how many rows were used of how many."""
    if task in TABULAR:
        rows = sample(len(inputs), min(most, importance_rows(len(features))), seed)
        y = truth[rows]

        def importance(items: list[Any], served: Served) -> dict[str, Any]:
            classify = task == TABULAR[0]
            found = feature_importance(lambda x: predictions(served(x.tolist()), classify=classify),
                                       np.asarray(items, dtype=np.float64), y, classify=classify,
                                       features=features, seed=seed)
            return {"feature_importance": found, "feature_importance_sample": {
                "rows": len(items), "of": len(inputs), "repeats": IMPORTANCE_REPEATS}}

        return Planned([inputs[i] for i in rows.tolist()], importance)
    if task == TEXT:
        texts = sample(len(inputs), min(most, WORD_TEXTS), seed)

        def words(items: list[Any], served: Served) -> dict[str, Any]:
            def probabilities(some: list[str]) -> np.ndarray[Any, Any]:
                return np.asarray([[output.probabilities[label] for label in labels]
                                   for output in served(some)], dtype=np.float64)

            found = influential_words(probabilities, [str(item) for item in items], labels)
            return {"influential_words": found,
                    "influential_words_sample": {"texts": len(items), "of": len(inputs)}}

        return Planned([inputs[i] for i in texts.tolist()], words)
    return None
