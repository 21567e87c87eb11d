"""``builtin:sentiment``: the hand-written review set loads as a clean, balanced text table."""

from __future__ import annotations

import re

import pytest

from aiaas.training.datasets.base import Table
from aiaas.training.datasets.catalog import Catalog


@pytest.fixture(scope="module")
def table() -> Table:
    dataset = Catalog().load("t", "builtin:sentiment")
    assert isinstance(dataset, Table)
    return dataset


def test_shape_and_metadata(table: Table) -> None:
    info, frame = table.info, table.frame
    assert list(frame.columns) == ["text", "label"]
    assert info.columns == {"text": "text", "label": "label"}
    assert info.label == "label"
    assert info.tasks == ("text-classification",)
    assert info.rows == len(frame) >= 600
    assert f"{len(frame)} rows" in info.description
    assert info.stats["classes"] == frame["label"].value_counts().to_dict()


def test_labels_balanced(table: Table) -> None:
    counts = table.frame["label"].value_counts().to_dict()
    assert set(counts) == {"positive", "negative"}
    assert min(counts.values()) >= 280
    assert abs(counts["positive"] - counts["negative"]) <= 20


def test_texts_distinct_clean_and_short(table: Table) -> None:
    texts = table.frame["text"].tolist()
    assert all(isinstance(t, str) and t for t in texts)
    assert all(t == t.strip() for t in texts)
    assert len({t.casefold() for t in texts}) == len(texts)
    words = [len(t.split()) for t in texts]
    assert min(words) >= 5 and max(words) <= 35
    assert all(len(t) <= 250 for t in texts)


def test_no_near_duplicates(table: Table) -> None:
    """Reviews that differ only in punctuation or one word would inflate accuracy on a split."""
    seen: dict[str, str] = {}
    for text in table.frame["text"]:
        key = " ".join(re.findall(r"[a-z']+", text.lower()))
        assert key not in seen, (text, seen[key])
        seen[key] = text
    keys = list(seen)
    word_sets = [set(k.split()) for k in keys]
    for i, a in enumerate(word_sets):
        for b in word_sets[i + 1:]:
            assert len(a & b) / len(a | b) < 0.6
