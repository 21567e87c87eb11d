"""The backend contract the runtime manager relies on. Kept small on purpose."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiaas.tasks.base import Prediction, StreamEvent


class Backend(ABC):
    """Loads one model version and runs batches of already-validated items.

    ``predict_batch`` runs on a worker thread, one batch at a time per model unless the backend
    offers more ``lanes``; it must return exactly one ``Prediction`` per item, in order.
    """

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = path
        self.config = config

    @abstractmethod
    def load(self) -> None: ...

    @abstractmethod
    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]: ...

    def unload(self) -> None:
        """Drop references so the memory can be freed."""

    @property
    def lanes(self) -> int:
        """How many batches ``predict_batch`` may run at once, each on its own worker thread."""
        return 1

    @property
    def busy(self) -> bool:
        """Work in flight that the batcher cannot see (a streaming engine's sequences)."""
        return False

    def describe(self) -> dict[str, Any]:
        """What an operator sees for the loaded model: at least the engine running it."""
        return {"engine": type(self).__name__.removesuffix("Backend")}

    def memory_bytes(self) -> int:
        """An estimate used against the memory budget: on-disk size by default."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


class StreamingBackend(Backend):
    """A generative backend that owns its scheduling (e.g. iteration-level batching of many
    streams in one engine thread). ``stream`` is called on the event loop for one validated
    item; it raises ``Overloaded`` when its queue is full. ``predict_batch`` is not used."""

    @abstractmethod
    def stream(self, item: Any, parameters: dict[str, Any]) -> AsyncIterator[StreamEvent]: ...

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        raise NotImplementedError("streaming backends are driven through stream()")
