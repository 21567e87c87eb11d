"""The deploy gate: ``promote_if`` conditions such as ``accuracy>=0.95`` or ``rmse<=50``.

Parsed with one regular expression, never evaluated as code. The metric is a test-split metric.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiaas.errors import Invalid

PATTERN = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(>=|<=|==|>|<)\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
}


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str
    threshold: float

    def check(self, metrics: dict[str, Any]) -> tuple[bool, str]:
        """(holds, why): e.g. ``(True, "accuracy 0.965 >= 0.95")``."""
        value = metrics.get(self.metric)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False, f"{self.metric} was not measured"
        holds = OPERATORS[self.op](float(value), self.threshold)
        shown = f"{self.metric} {value:.4g} {self.op} {self.threshold:g}"
        return holds, shown if holds else f"not {shown}"


def parse(text: str, known: tuple[str, ...]) -> Condition:
    """Parse ``METRIC OP NUMBER`` where METRIC is one of ``known`` (the trainer's test metrics);
    ``Invalid`` naming the problem otherwise."""
    match = PATTERN.match(text)
    if match is None:
        raise Invalid(f"promote_if {text!r} is not of the form METRIC OP NUMBER "
                      "(e.g. accuracy>=0.95); OP is one of >=, <=, >, <, ==",
                      details={"field": "promote_if"})
    metric, op, number = match.groups()
    if metric not in known:
        raise Invalid(f"promote_if names unknown metric {metric!r}; "
                      f"known: {', '.join(known)}", details={"field": "promote_if"})
    return Condition(metric, op, float(number))
