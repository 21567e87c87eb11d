"""The records a model call travels as: asked, resolved, answered."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from aiaas.auth.principal import Principal
from aiaas.registry.service import VersionInfo
from aiaas.tasks.base import Prediction, Task
from aiaas.tasks.units import Units

NOT_GIVEN: Any = object()
"""``inputs`` not known yet: a surface that must see the version before it can build the
task's items (V2 decodes tensors by the version's input spec) resolves first."""


@dataclass(frozen=True, slots=True)
class ModelCall:
    """One call to a model, as any surface asks it.

    ``ref`` is a version number or an alias (``None``: ``production``, else the latest).
    ``task`` asks for a task the version also serves (completion on a chat model); ``None`` is
    the version's own. ``surface`` names where it came from in usage rows (native, openai, v2,
    evaluation, ...).
    """

    principal: Principal
    model: str
    ref: str | int | None = None
    surface: str = "native"
    task: str | None = None
    inputs: Any = NOT_GIVEN
    parameters: Any = None


@dataclass(slots=True)
class ResolvedCall:
    """A call with its version and task found, as admission checks see it.

    A check may replace ``inputs`` and ``parameters`` (a PII policy redacting text, say): what
    it leaves there is what the task checks and the model gets. ``tags`` carries what a check
    wants the meter or a later check to know.
    """

    call: ModelCall
    version: VersionInfo
    task: Task
    inputs: Any
    parameters: Any
    tags: dict[str, Any] = field(default_factory=dict)
    """What a check wants the meter, a later check or an output filter to know; ``notes`` in
    it (a dict) is shown to the caller."""

    @property
    def principal(self) -> Principal:
        return self.call.principal

    @property
    def surface(self) -> str:
        return self.call.surface

    def given(self, inputs: Any, parameters: Any = None) -> ResolvedCall:
        """The same resolved call with the inputs a surface built after seeing the version."""
        return dataclasses.replace(self, inputs=inputs, parameters=parameters,
                                   tags=dict(self.tags))


@dataclass(frozen=True, slots=True)
class CallResult:
    model: str
    version: int
    outputs: list[Any]
    units: Units
    latency_ms: float
    predictions: list[Prediction]
    notes: dict[str, Any] = field(default_factory=dict)
    """What checks and filters tell the caller beside the outputs (``privacy``: PII found)."""

    @property
    def usage(self) -> dict[str, Any]:
        """The ``usage`` object of a native answer (units and latency)."""
        return {**self.units.summary(), "latency_ms": round(self.latency_ms, 3)}
