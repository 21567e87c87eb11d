"""Framework exceptions told apart by class name and module (nothing imports torch or
onnxruntime to do it): out of memory, a refused feed, a failed graph, and what is not known."""

from __future__ import annotations

import pytest

from aiaas.errors import BackendError, Invalid, Unavailable
from aiaas.runtime.backends.framework_errors import framework_error, out_of_memory


def named(name: str, module: str, base: type[Exception] = Exception) -> type[Exception]:
    """An exception class that looks like a framework's own (its name and module)."""
    return type(name, (base,), {"__module__": module})


TorchOOM = named("OutOfMemoryError", "torch.cuda", RuntimeError)
OrtInvalidArgument = named("InvalidArgument", "onnxruntime.capi.onnxruntime_pybind11_state")
OrtFail = named("Fail", "onnxruntime.capi.onnxruntime_pybind11_state")


@pytest.mark.parametrize("exc", [
    TorchOOM("CUDA out of memory. Tried to allocate 2.00 GiB"),
    named("Derived", "mylib", TorchOOM)("a subclass of torch's"),
    RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 7.79 GiB total)"),
    RuntimeError("CUDA failed with error out of memory"),
    OrtFail("[ONNXRuntimeError] : 1 : FAIL : bfc_arena.cc:376 AllocateRawInternal Failed to "
            "allocate memory for requested buffer of size 1073741824"),
])
def test_out_of_memory_is_unavailable_naming_the_device(exc: Exception) -> None:
    assert out_of_memory(exc)
    error = framework_error(exc, device="cuda:1")
    assert isinstance(error, Unavailable) and error.retry_after_s > 0
    assert error.message == "the model ran out of memory on cuda:1; retry with fewer inputs"


def test_the_real_torch_out_of_memory_error_is_known() -> None:
    torch = pytest.importorskip("torch")
    assert out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))


def test_a_refused_feed_is_invalid_without_the_status_header() -> None:
    error = framework_error(OrtInvalidArgument(
        "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x"),
        device="cpu")
    assert isinstance(error, Invalid)
    assert error.message == "the model cannot take this input: Got invalid dimensions for input: x"


def test_a_graph_that_fails_while_running_is_a_backend_error() -> None:
    error = framework_error(OrtFail("[ONNXRuntimeError] : 1 : FAIL : Reshape node failed"),
                            device="cpu")
    assert isinstance(error, BackendError)
    assert error.message == "the model failed in ONNX Runtime: Reshape node failed"


@pytest.mark.parametrize("exc", [
    ValueError("out of memory"),  # not a RuntimeError: a message alone is not enough
    RuntimeError("expected scalar type Float but found Half"),
    named("OutOfMemoryError", "mylib", RuntimeError)("not torch's"),
    named("InvalidArgument", "otherlib")("not onnxruntime's"),
    MemoryError(),
])
def test_what_is_not_known_is_left_to_the_caller(exc: Exception) -> None:
    assert framework_error(exc, device="cpu") is None
