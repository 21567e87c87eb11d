"""Global explanations on models written here, whose answers are known: permutation importance
finds the one feature that decides, influential words find the words that decide, counted as
specified (lower-cased, stripped, seen in 2+ texts, positive means only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aiaas.training import global_explain

GOOD, BAD = {"good", "fine"}, {"bad", "awful"}


def keyword_model(texts: list[str]) -> np.ndarray[Any, Any]:
    """P(neg), P(pos) from the count of good minus bad words: an additive model of words."""
    scores = []
    for text in texts:
        words = [w.strip(".,!").lower() for w in text.split()]
        scores.append(sum(w in GOOD for w in words) - sum(w in BAD for w in words))
    positive = 1 / (1 + np.exp(-2.0 * np.asarray(scores, dtype=np.float64)))
    return np.stack([1 - positive, positive], axis=1)


def test_influential_words_are_the_words_that_decide() -> None:
    texts = ["The soup was Good.", "a good day", "Fine weather, good coffee", "the bad news",
             "An AWFUL film!", "awful and bad", "the chair", "once only: splendid", "...", ""]
    done: list[int] = []
    found = global_explain.influential_words(keyword_model, texts, ["neg", "pos"], done=done.append)
    assert done == list(range(1, len(texts) + 1))
    positive = {entry["word"]: entry for entry in found["pos"]}
    negative = {entry["word"]: entry for entry in found["neg"]}
    assert next(iter(positive)) == "good" and positive["good"]["texts"] == 3
    assert set(negative) <= {"awful", "bad", "the", "a", "and"} and next(iter(negative)) in BAD
    assert negative["awful"]["texts"] == 2 and "an" not in negative  # "An" once: left out
    assert "fine" not in positive and "splendid" not in positive     # one text each
    for entries in found.values():
        weights = [entry["attribution"] for entry in entries]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        assert all(entry["texts"] >= global_explain.MIN_TEXTS for entry in entries)
        assert len(entries) <= global_explain.TOP_WORDS


def test_permutation_importance_ranks_the_deciding_feature_first() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = np.where(x[:, 1] > 0, "yes", "no")
    calls: list[int] = []

    def predict(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        calls.append(len(rows))
        return np.where(rows[:, 1] > 0, "yes", "no")

    found = global_explain.feature_importance(predict, x, y, classify=True, features=["a", "b", "c"],
                                              seed=3)
    assert next(iter(found)) == "b" and found["b"]["mean"] > 0.3
    assert found["a"] == found["c"] == {"mean": 0.0, "std": 0.0}
    assert calls == [200] * (1 + 3 * global_explain.IMPORTANCE_REPEATS)
    again = global_explain.feature_importance(predict, x, y, classify=True, features=["a", "b", "c"],
                                              seed=3)
    assert again == found


def test_samples_are_seeded_and_bounded() -> None:
    first = global_explain.sample(1000, 64, seed=1)
    assert len(first) == 64 and list(first) == sorted(first) and len(set(first.tolist())) == 64
    assert (global_explain.sample(1000, 64, seed=1) == first).all()
    assert not (global_explain.sample(1000, 64, seed=2) == first).all()
    assert list(global_explain.sample(5, 64, seed=1)) == [0, 1, 2, 3, 4]
    rows = global_explain.importance_rows(30)
    assert rows * (30 * global_explain.IMPORTANCE_REPEATS + 1) <= global_explain.IMPORTANCE_BUDGET
    assert global_explain.plan("image-classification", [b"png"], np.asarray(["1"]), labels=["1"],
                               features=[], seed=0, most=8) is None
    planned = global_explain.plan("text-classification", [f"text {i}" for i in range(100)],
                                  np.asarray(["a"] * 100), labels=["a", "b"], features=[], seed=0,
                                  most=8)
    assert planned is not None and len(planned.inputs) == 8
