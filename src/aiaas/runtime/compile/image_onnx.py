"""Export a transformers ``*ForImageClassification`` directory to ONNX (``pixel_values`` in,
logits out) and verify it against transformers: the largest difference of the class
probabilities (softmax, or sigmoid for multi-label) over sample images must be <=
``MAX_ABS_ERROR``.

The samples are made here (gradients, a checkerboard, seeded noise, a flat colour; several sizes
and aspect ratios) and go through the serving backend's own image processor, which fixes the
height and width; so only the batch axis is dynamic, and a processor that does not give every
image the same size fails the check instead of failing at serving time.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime import process
from aiaas.runtime.compile.cache import Compiled, cached
from aiaas.runtime.compile.sequence_onnx import probability_check
from aiaas.runtime.loaders import load_processor, open_session

MAX_ABS_ERROR = 1e-4
MODEL_FILE = "model.onnx"
INPUT = "pixel_values"
KIND = "img-onnx-fp32"


def compiled(root: Path, digest: str, source: Path, *, threads: int, multi_label: bool) -> Compiled:
    """The verified fp32 export of ``source`` (artifact ``digest``), built on first use."""
    return cached(root, digest, KIND, lambda target: export(source, target, threads=threads,
                                                           multi_label=multi_label))


def sample_images() -> list[Any]:
    """Deterministic RGB pictures with edges, smooth ramps and noise, in several shapes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 96)
    gradient = np.stack([ramp[None, :].repeat(64, 0), ramp[:64, None].repeat(96, 1),
                         np.full((64, 96), 128.0)], axis=-1)
    squares = ((np.indices((80, 80)) // 10).sum(axis=0) % 2 * 255)[..., None].repeat(3, -1)
    arrays = [
        gradient,
        squares,
        rng.uniform(0, 255, (50, 120, 3)),
        rng.normal(128, 60, (224, 224, 3)),
        gradient[::-1, ::-1] * 0.5 + rng.normal(0, 25, (64, 96, 3)),
        np.full((17, 23, 3), (200.0, 30.0, 90.0)),
    ]
    return [Image.fromarray(a.clip(0, 255).astype(np.uint8), "RGB") for a in arrays]


def export(source: Path, target: Path, *, threads: int, multi_label: bool) -> dict[str, Any]:
    """Write ``target/model.onnx`` and return the verification report."""
    import torch
    from transformers import AutoModelForImageClassification

    started = time.perf_counter()
    process.use_torch_threads(threads)
    processor = load_processor(source)
    model = AutoModelForImageClassification.from_pretrained(
        str(source), local_files_only=True, trust_remote_code=False, use_safetensors=True).eval()
    images = sample_images()
    shapes = {tuple(processor(images=[image], return_tensors="np")[INPUT].shape[1:])
              for image in images}
    if len(shapes) != 1:
        return {"ok": False, "reason": "the image processor gives images of different sizes "
                                       f"{sorted(shapes)}; the export needs one fixed size"}
    pixels = processor(images=images, return_tensors="pt")[INPUT].float()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            output: torch.Tensor = self.model(pixel_values=pixel_values).logits
            return output

    axes = {INPUT: {0: "batch"}, "logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits().eval(), (pixels[:2],), str(target / MODEL_FILE),
                          input_names=[INPUT], output_names=["logits"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        model.eval()  # the exporter restores the wrapper's (training) mode on the way out
        expected = model(pixel_values=pixels).logits.float().numpy()
    session = open_session(target / MODEL_FILE, threads=threads)
    served = processor(images=images, return_tensors="np")[INPUT]  # as the backend feeds it
    got = session.run(None, {INPUT: served.astype(np.float32)})[0]
    return probability_check(expected, got, multi_label=multi_label, bound=MAX_ABS_ERROR,
                             started=started)
