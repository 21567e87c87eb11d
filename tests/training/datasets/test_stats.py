"""Table statistics against pandas on the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aiaas.training.datasets import parsing, validation
from aiaas.training.datasets.stats import table_stats


def test_stats_match_pandas_on_the_same_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"height": rng.normal(170, 10, 300).round(2),
                          "weight": rng.integers(40, 120, 300).astype(float),
                          "group": rng.choice(["a", "b", "c"], 300),
                          "label": rng.choice(["low", "mid", "high"], 300, p=[0.5, 0.3, 0.2])})
    frame.loc[rng.choice(300, 17, replace=False), "weight"] = np.nan
    frame.loc[rng.choice(300, 5, replace=False), "group"] = np.nan
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    checked = validation.check_table(parsing.read_table(path, "csv"))
    stats = table_stats(checked.frame, checked.columns, label=checked.label,
                                       split_column=None)
    read = pd.read_csv(path)
    assert stats["rows"] == len(read) == 300
    for name in ("height", "weight"):
        entry = stats["columns"][name]
        assert entry["type"] == "number"
        assert entry["missing"] == int(read[name].isna().sum())
        assert entry["min"] == read[name].min() and entry["max"] == read[name].max()
        assert entry["mean"] == pytest.approx(read[name].mean(), rel=1e-12)
    assert stats["columns"]["weight"]["missing"] == 17
    assert stats["columns"]["group"] == {"type": "label", "missing": 5, "distinct": 3}
    assert stats["classes"] == {k: int(v) for k, v in read["label"].value_counts().items()}
