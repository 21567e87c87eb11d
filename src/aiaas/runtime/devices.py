"""Which device a model runs on: ``auto`` (the first GPU when there is one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. A GPU that is not there is refused when the option is set, not when the
model loads."""

from __future__ import annotations

from typing import Any

from aiaas.errors import Invalid


def cuda_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def resolve(device: str) -> str:
    """``cpu`` or ``cuda:N`` for a requested device; ``Invalid`` when the GPU is missing."""
    count = cuda_count()
    if device == "auto":
        return "cuda:0" if count else "cpu"
    if device == "cpu":
        return "cpu"
    index = int(device.partition(":")[2] or 0)
    if index >= count:
        have = f"{count} GPU(s)" if count else "no GPU"
        raise Invalid(f"device {device!r} is not available: this server has {have}",
                      details={"field": "device"})
    return f"cuda:{index}"


def onnx_providers(device: str) -> list[Any] | None:
    """ONNX Runtime providers for a resolved device, or None when this onnxruntime build cannot
    use it (a CPU-only wheel asked for a GPU)."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return None
    return [("CUDAExecutionProvider", {"device_id": int(device.partition(":")[2] or 0)}),
            "CPUExecutionProvider"]
