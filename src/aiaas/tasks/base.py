"""The task contract: check inputs before they reach a model, describe outputs, count units."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid, PayloadTooLarge
from aiaas.tasks.units import Units

if TYPE_CHECKING:
    from aiaas.formats import Detected


@dataclass(frozen=True, slots=True)
class Limits:
    max_inputs: int
    max_input_chars: int
    max_image_pixels: int = 40_000_000
    max_audio_seconds: float = 600.0
    max_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class Prediction:
    """One output, plus the units it took where the backend counts them (for usage rows)."""

    output: Any
    tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0

    @property
    def units(self) -> Units:
        return Units(1, self.tokens, self.completion_tokens, self.audio_seconds)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """A piece of a streamed generation. The last event has ``finish_reason`` and the counts."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def units(self) -> Units:
        """What the generation has used so far (all of it, on the last event)."""
        return Units(1, self.prompt_tokens, self.completion_tokens)


class Task(ABC):
    name: str
    unit: str = "items"
    streaming: bool = False
    """True for generative tasks: the backend streams (``StreamingBackend``), no batcher."""
    shares_batches: bool = True
    """False when one request's items must never share a backend call with another's."""
    heavy_check: bool = False
    """True when checking an input decodes it (images, audio): the check then runs on a
    worker thread, never on the event loop."""

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        """Derive what the backend needs at load time from the directory and its manifest."""
        return {}

    @abstractmethod
    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        """Return the item as the backend takes it, or raise ``Invalid`` naming ``inputs[index]``."""

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if parameters:
            raise Invalid(
                f"task {self.name!r} takes no parameters; got: {', '.join(sorted(parameters))}",
                details={"field": "parameters"},
            )
        return {}

    def check(
        self, inputs: Any, parameters: Any, config: dict[str, Any], limits: Limits
    ) -> tuple[list[Any], dict[str, Any]]:
        if not isinstance(inputs, list):
            raise Invalid.at("inputs", "must be a list", naming="quoted")
        if not inputs:
            raise Invalid.at("inputs", "is empty: send at least one input", naming="quoted")
        if len(inputs) > limits.max_inputs:
            raise PayloadTooLarge(
                f"too many inputs: {len(inputs)} > the limit of {limits.max_inputs} per call",
                details={"field": "inputs", "limit": limits.max_inputs},
            )
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise Invalid.at("parameters", "must be an object", naming="quoted")
        items: list[Any] = []
        for index, item in enumerate(inputs):
            with about_item(index):
                items.append(self.check_item(item, index, config, limits))
        return items, self.check_parameters(parameters)


def check_text(item: Any, index: int, limits: Limits) -> str:
    """A non-empty string within ``limits.max_input_chars``, or a 422 naming ``inputs[index]``."""
    if not isinstance(item, str):
        raise item_error(index, f"expected a string, got {type(item).__name__}")
    if not item.strip():
        raise item_error(index, "empty string")
    if len(item) > limits.max_input_chars:
        raise item_error(index, f"longer than {limits.max_input_chars} characters")
    return item


def item_field(index: int) -> str:
    """The native name of item ``index`` of a call's inputs."""
    return f"inputs[{index}]"


def item_error(index: int, message: str) -> Invalid:
    """``message`` about item ``index`` as a whole: ``inputs[index]: message``."""
    return Invalid.at(item_field(index), message, index=index)


@contextmanager
def about_item(index: int) -> Iterator[None]:
    """Say which item the errors raised inside are about. The helpers that check or decode an
    image, a clip or a series know only the name of the field they were given
    (``inputs[3].audio``); the code that hands them item ``index`` knows the item, so an
    ``Invalid`` naming a field gets that ``index`` here (one naming no field, e.g. a model's
    configuration, is left alone)."""
    try:
        yield
    except Invalid as exc:
        if exc.field is not None and exc.index is None:
            exc.index = index
        raise
