"""The small CNN the image trainer trains (``training/trainers/image_cnn.py``), and its PyTorch
form stored beside its ONNX graph.

The graph (``model.onnx``) serves predictions; the weights (``cnn.safetensors``: the state dict,
with the architecture, its version and its shape in the file's metadata; safetensors, never
pickle) are what gradient explanations need, which ONNX Runtime cannot give. The architecture
lives here, below the trainer, so the backend that loads the weights builds the same network
the trainer trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_FILE = "cnn.safetensors"
ARCHITECTURE = "aiaas.small_cnn/1"
WIDTHS = (16, 32, 64)


class SmallCNN(nn.Module):
    """Three stages of two 3x3 convolutions with batch norm (``WIDTHS`` channels), 2x2 max
    pooling while the feature map is at least 4 pixels wide, global average pooling, dropout
    and a linear head."""

    def __init__(self, channels: int, classes: int, size: tuple[int, int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        side, width_in = min(size), channels
        for width in WIDTHS:
            for first in (True, False):
                layers += [nn.Conv2d(width_in if first else width, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if side >= 4:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            width_in = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(width_in, classes))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(pixels))
        return logits


def save(model: SmallCNN, directory: Path, *, channels: int, classes: int,
         size: tuple[int, int]) -> None:
    """The trained network's weights as ``WEIGHTS_FILE`` in ``directory``."""
    from safetensors.torch import save_file

    state = {name: tensor.detach().to("cpu").contiguous()
             for name, tensor in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={
        "architecture": ARCHITECTURE, "channels": str(channels), "classes": str(classes),
        "height": str(size[0]), "width": str(size[1])})


def load(directory: Path) -> SmallCNN | None:
    """The network stored in ``directory`` in eval mode on the CPU; None when there is none, or
    it is another architecture (or version) than this module builds."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = directory / WEIGHTS_FILE
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as stored:
        meta: dict[str, str] = stored.metadata() or {}
    if meta.get("architecture") != ARCHITECTURE:
        return None
    state: dict[str, Any] = load_file(str(path))
    model = SmallCNN(int(meta["channels"]), int(meta["classes"]),
                     (int(meta["height"]), int(meta["width"])))
    model.load_state_dict(state, strict=True)
    return model.eval()
