"""The backend contract's error hook: a backend's framework exceptions become domain errors in
one place, and the batcher raises what the hook says (a real ONNX model fed a wrong shape, a
graph that fails while running, a GPU out of memory), a 500 for what it does not know."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.onnx_tabular import OnnxTabularBackend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks.base import Prediction

FEATURES = 4
TorchOOM = type("OutOfMemoryError", (RuntimeError,), {"__module__": "torch.cuda"})


def regression_graph(path: Path, *, reshape_to: list[int] | None = None) -> Path:
    """``y = x @ w`` over ``FEATURES`` inputs; with ``reshape_to`` the input is first reshaped
    to that fixed shape, which fails at run time for any other element count."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.arange(1, FEATURES + 1, dtype=np.float32).reshape(FEATURES, 1)
    nodes, initializers, first = [], [numpy_helper.from_array(weights, "w")], "x"
    if reshape_to is not None:
        initializers.append(numpy_helper.from_array(np.array(reshape_to, dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["x", "shape"], ["fixed"]))
        first = "fixed"
    nodes.append(helper.make_node("MatMul", [first, "w"], ["y"]))
    graph = helper.make_graph(
        nodes, "tiny_regression",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 1])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.mkdir(parents=True, exist_ok=True)
    (path / "model.onnx").write_bytes(model.SerializeToString())
    return path


def tabular(path: Path) -> OnnxTabularBackend:
    backend = OnnxTabularBackend(path, {"model_file": "model.onnx"}, task="tabular-regression",
                                 threads=1)
    backend.load()
    return backend


class Raising(Backend):
    """Raises what it is given, as a framework would from inside ``predict_batch``."""

    def __init__(self, exc: Exception, device: str = "cpu") -> None:
        super().__init__(Path("."), {})
        self.exc, self.device = exc, device

    def load(self) -> None:
        pass

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        raise self.exc


async def run(backend: Backend, items: list[Any]) -> list[Prediction]:
    """``items`` through a batcher, as a replica runs them."""
    batcher = Batcher(backend, name="tiny", max_batch=8, max_queue=8, wait_s=0.0, timeout_s=30.0)
    batcher.start()
    try:
        return await batcher.submit(items, {})
    finally:
        await batcher.stop()


async def test_a_real_onnx_model_fed_the_wrong_shape_is_invalid(tmp_path: Path) -> None:
    backend = tabular(regression_graph(tmp_path / "model"))
    assert [p.output for p in await run(backend, [[1.0, 0.0, 0.0, 1.0]])] == [{"value": 5.0}]
    with pytest.raises(Invalid) as caught:
        await run(backend, [[1.0, 2.0, 3.0]])
    message = caught.value.message
    assert message.startswith("the model cannot take this input: ") and "dimensions" in message
    assert "[ONNXRuntimeError]" not in message


async def test_a_graph_failing_while_it_runs_is_a_clear_backend_error(tmp_path: Path) -> None:
    backend = tabular(regression_graph(tmp_path / "model", reshape_to=[1, FEATURES]))
    assert len(await run(backend, [[1.0] * FEATURES])) == 1
    with pytest.raises(BackendError, match=r"^the model failed in ONNX Runtime: .*Reshape"):
        await run(backend, [[1.0] * FEATURES, [2.0] * FEATURES])


async def test_a_gpu_out_of_memory_is_a_503_to_retry_through_the_hook() -> None:
    backend = Raising(TorchOOM("CUDA out of memory. Tried to allocate 2.00 GiB"), device="cuda:0")
    error = backend.domain_error(backend.exc)
    assert isinstance(error, Unavailable) and error.retry_after_s > 0
    with pytest.raises(Unavailable, match=r"^the model ran out of memory on cuda:0; retry with "
                                          r"fewer inputs$"):
        await run(backend, [1])


async def test_an_unknown_exception_stays_a_backend_error() -> None:
    backend = Raising(KeyError("boom"))
    assert backend.domain_error(backend.exc) is None
    with pytest.raises(BackendError, match=r"^model 'tiny' failed: 'boom'$"):
        await run(backend, [1])


async def test_a_backend_that_knows_more_overrides_the_hook() -> None:
    class Knowing(Raising):
        def domain_error(self, exc: Exception) -> AiaasError | None:
            if isinstance(exc, KeyError):
                return Invalid(f"no such token: {exc}")
            return super().domain_error(exc)

    with pytest.raises(Invalid, match="no such token"):
        await run(Knowing(KeyError("zz")), [1])
    assert isinstance(Knowing(KeyError()).failure(TorchOOM("out of memory"), "x"), Unavailable)
    assert Knowing(KeyError()).failure(ValueError("v"), "it failed").message == "it failed: v"
