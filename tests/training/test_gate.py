"""The deploy gate: the conditions it accepts and everything else it refuses."""

from __future__ import annotations

import pytest

from aiaas.errors import Invalid
from aiaas.training import evaluation, gate


@pytest.mark.parametrize(("text", "metrics", "holds", "why"), [
    ("accuracy>=0.95", {"accuracy": 0.965}, True, "accuracy 0.965 >= 0.95"),
    (" f1_macro > 0.9 ", {"f1_macro": 0.9}, False, "not f1_macro 0.9 > 0.9"),
    ("roc_auc<1e0", {"roc_auc": 0.5}, True, "roc_auc 0.5 < 1"),
    ("accuracy==1", {}, False, "accuracy was not measured"),
])
def test_gate_conditions(text: str, metrics: dict[str, float], holds: bool, why: str) -> None:
    assert gate.parse(text, evaluation.SCALARS_CLASSIFICATION).check(metrics) == (holds, why)


@pytest.mark.parametrize("text", ["accuracy", "accuracy=>0.9", "1<accuracy", "accuracy>=x",
                                  "accuracy>=0.9;rm", "rmse<=50", "__class__>=1"])
def test_gate_refuses_anything_else(text: str) -> None:
    with pytest.raises(Invalid):
        gate.parse(text, evaluation.SCALARS_CLASSIFICATION)
    assert gate.parse("rmse<=50", evaluation.SCALARS_REGRESSION).check({"rmse": 49.0})[0]
