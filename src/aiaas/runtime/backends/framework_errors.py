"""Framework exceptions said as domain errors: what ``Backend.domain_error`` knows by default.

A model that runs out of GPU memory has failed on nothing the caller did wrong and may well
succeed with fewer inputs or a moment later: that is ``Unavailable`` (503 with Retry-After), not
a 500 to report. An ONNX graph that refuses its feed (``InvalidArgument``: wrong rank, size or
element type) refused the input; a graph that fails while running (``Fail``,
``RuntimeException``) is a model failure, said without ONNX Runtime's status header.

Neither torch nor onnxruntime is imported here: each is imported when a model that needs it
loads, and a server may have only one of them. Their exceptions are recognised by the name and
module of their class instead.
"""

from __future__ import annotations

from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable

OOM_RETRY_S = 2.0
"""Retry-After for an out-of-memory failure: by then the batches that held the memory are done."""

_ORT_MODULE = "onnxruntime"
_ORT_RUN_FAILURES = ("Fail", "RuntimeException", "EPFail")
_OOM_TEXTS = ("out of memory", "failed to allocate memory")


def framework_error(exc: Exception, *, device: str) -> AiaasError | None:
    """The domain error ``exc`` stands for, raised by a model running on ``device``; None for
    an exception this does not know (the caller reports it as a 500 ``BackendError``)."""
    if out_of_memory(exc):
        return Unavailable(f"the model ran out of memory on {device}; retry with fewer inputs",
                           retry_after_s=OOM_RETRY_S)
    kind = _onnxruntime_kind(exc)
    if kind == "InvalidArgument":
        return Invalid(f"the model cannot take this input: {_ort_text(exc)}")
    if kind in _ORT_RUN_FAILURES:
        return BackendError(f"the model failed in ONNX Runtime: {_ort_text(exc)}")
    return None


def out_of_memory(exc: Exception) -> bool:
    """torch's ``OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``), or a ``RuntimeError`` or
    ONNX Runtime failure whose text says the device ran out of memory (older torch, CUDA
    kernels, CTranslate2, ONNX Runtime's CUDA allocator)."""
    if any(cls.__name__ == "OutOfMemoryError" and _root_module(cls) == "torch"
           for cls in type(exc).__mro__):
        return True
    if isinstance(exc, RuntimeError) or _onnxruntime_kind(exc) in _ORT_RUN_FAILURES:
        text = str(exc).lower()
        return any(phrase in text for phrase in _OOM_TEXTS)
    return False


def _root_module(cls: type) -> str:
    return cls.__module__.partition(".")[0]


def _onnxruntime_kind(exc: Exception) -> str | None:
    """The name of ONNX Runtime's exception class (``InvalidArgument``, ``Fail``, ...)."""
    cls = type(exc)
    return cls.__name__ if _root_module(cls) == _ORT_MODULE else None


def _ort_text(exc: Exception) -> str:
    """ONNX Runtime's message on one line, without its ``[ONNXRuntimeError] : 2 :
    INVALID_ARGUMENT :`` header, which says again what the class says."""
    parts = str(exc).split(" : ", 3)
    text = parts[3] if len(parts) == 4 and parts[0] == "[ONNXRuntimeError]" else str(exc)
    return " ".join(text.split())
