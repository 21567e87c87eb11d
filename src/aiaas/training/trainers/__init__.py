"""Trainers, one ``TrainerSpec`` per training task; each module lists its own in ``SPECS``."""

from __future__ import annotations

import importlib
from functools import cache

from aiaas.errors import Invalid
from aiaas.training.trainers.base import TrainerSpec

MODULES = ("tabular", "images", "text", "forecasting")
"""Trainer modules under ``aiaas.training.trainers``, imported on first use (torch stays out of
processes that never train)."""


@cache
def specs() -> dict[str, TrainerSpec]:
    found: dict[str, TrainerSpec] = {}
    for name in MODULES:
        module = importlib.import_module(f"aiaas.training.trainers.{name}")
        found.update({spec.task: spec for spec in module.SPECS})
    return found


def spec_for(task: str) -> TrainerSpec:
    """The trainer for ``task``; ``Invalid`` listing the trainable tasks otherwise."""
    known = specs()
    if task not in known:
        raise Invalid(f"unknown task {task!r}; training supports: {', '.join(sorted(known))}",
                      details={"field": "task"})
    return known[task]
