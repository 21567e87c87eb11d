"""The backend contract a replica (``runtime/replica.py``) drives. Kept small on purpose."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiaas.errors import AiaasError, BackendError
from aiaas.runtime.backends.framework_errors import framework_error
from aiaas.tasks.base import Prediction, StreamEvent
from aiaas.tasks.outputs import Explanation


class Backend(ABC):
    """Loads one model version and runs batches of already-validated items.

    ``predict_batch`` runs on a worker thread, one batch at a time per model unless the backend
    offers more ``lanes``; it must return exactly one ``Prediction`` per item, in order.
    """

    device: str = "cpu"
    """Where the model runs (``cpu``, ``cuda``, ``cuda:1``), named in its errors; a backend
    that loads elsewhere sets it."""
    label: str = ""
    """The model as its errors name it (``name:version``), set by the replica that runs it."""
    lazy_weights: bool = False
    """True for a backend that may never read the framework's weight files (an engine serving
    a cached export): a sealed model's working copy then decrypts them only when the backend
    calls ``crypto.checkouts.materialize`` first."""

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

    def planned_bytes(self, artifact_bytes: int) -> int:
        """What loading will take, known before it loads (the placement makes room for this
        much first): the artifact's size by default; backends that hold more say so."""
        return artifact_bytes

    def memory_bytes(self) -> int:
        """An estimate used against the memory budget once loaded: on-disk size by default."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def domain_error(self, exc: Exception) -> AiaasError | None:
        """The domain error an exception raised by this model's framework stands for, or None
        when it is not one this backend knows (the caller then reports a 500 ``BackendError``).
        The one place a backend's framework exceptions are mapped: by default a GPU out of
        memory (torch, ONNX Runtime, CTranslate2) is ``Unavailable`` and ONNX Runtime's
        refusals are ``Invalid`` or a clear ``BackendError`` (``framework_errors``); a backend
        that knows its framework better overrides it."""
        return framework_error(exc, device=self.device)

    def failure(self, exc: Exception, what: str) -> AiaasError:
        """``exc`` as the domain error to raise: ``domain_error``'s, else a ``BackendError``
        saying ``what`` failed (``"onnxruntime failed"``) and why."""
        return self.domain_error(exc) or BackendError(f"{what}: {exc}")


class StreamingBackend(Backend):
    """A generative backend that owns its scheduling (e.g. iteration-level batching of many
    streams in one engine thread). ``stream`` is called on the event loop for one validated
    item; it raises ``Overloaded`` when its queue is full. ``predict_batch`` is not used."""

    @abstractmethod
    def stream(self, item: Any, parameters: dict[str, Any], *,
               tenant: str = "") -> AsyncIterator[StreamEvent]:
        """One generation for ``item`` (as checked by the task, or as ``prepare`` returned it);
        ``tenant`` is whose work it is, for the backend's fair scheduling."""

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """Check a whole request's items against the backend's own bounds (a prompt's tokens)
        before any of them starts, returning what ``stream`` takes; the items by default."""
        return items

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        raise NotImplementedError("streaming backends are driven through stream()")


@runtime_checkable
class Explainable(Protocol):
    """An optional capability of a classifier backend: saying why it chose a label with the
    gradients of the model it holds (``aiaas.runtime.gradients``: captum's Integrated Gradients
    and Grad-CAM), so no second copy is loaded to explain. The model-agnostic methods
    (``aiaas.explain``: SHAP over the served outputs) need nothing from the backend.

    ``explain_methods`` says which gradient methods the loaded model answers (empty when it is
    served without its PyTorch form, e.g. through an ONNX export); the replica asks it before
    sending work. ``explain`` has the contract of ``predict_batch``: it runs on the model's
    worker thread, queued with its batches; ``items`` are already checked by the task; it
    returns exactly one ``Explanation`` per item, in order. ``parameters`` are the explanation's
    own, checked by the caller (``gradients.Request``: method, one target label per item,
    output, steps, baseline, the heat map's side)."""

    @property
    def explain_methods(self) -> tuple[str, ...]: ...

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]: ...
