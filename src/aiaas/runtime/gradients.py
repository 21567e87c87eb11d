"""Gradient explanations of PyTorch classifiers, run by the backend that holds the model
(``backends.base.Explainable``). The attribution methods are captum's; what is written here is
only how a model is wired to them and how their answers are put in the task's terms.

- ``integrated_gradients`` on texts: ``LayerIntegratedGradients`` on the input embedding layer,
  from the embeddings of a baseline text of the same length (``pad``: every token but the
  special ones replaced by the pad token; ``mask``: by the mask token), summed over the
  embedding dimension per token, then per word of the text as sent (tokens merged back with
  their character offsets).
- ``integrated_gradients`` on images: ``IntegratedGradients`` on the model's input pixels (what
  its processor makes of the image) from a baseline image made the same way (the image's
  ``mean`` colour, as SHAP hides pixels; ``black``; or a strong ``blur`` of it), summed over
  channels.
- ``grad_cam``: ``LayerGradCam`` on the last convolution of a CNN, or for a ViT on the patch
  tokens of its last block's first layer norm laid out as the patch grid (a ViT's last output
  feeds the classifier through its class token only, so its patches have no gradient).

Heat maps are given on the grid of the image shrunk to ``side`` (the image's own size, up to the
side the caller asked for): an Integrated Gradients map keeps its total there (each input
pixel's value shared among the grid cells it would be interpolated from), so base value +
attributions = output up to captum's convergence delta, as with SHAP; a Grad-CAM map is
resized bilinearly.

The explained output is the target label's probability, or its log-odds (``output``): softmax
for single-label models, sigmoid for multi-label ones, as the backends predict.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiaas.errors import Invalid
from aiaas.tasks.outputs import Attribution, Explanation

TEXT_METHODS = ("integrated_gradients",)
IMAGE_METHODS = ("integrated_gradients", "grad_cam")
TEXT_BASELINES = ("pad", "mask")
IMAGE_BASELINES = ("mean", "black", "blur")
DEFAULT_STEPS = 32
MAX_STEPS = 256
INTERNAL_BATCH = 16
"""Interpolation steps per forward/backward pass: bounds memory whatever ``steps`` is."""
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Request:
    """An explanation's parameters as the backend takes them (checked by the caller)."""

    method: str
    targets: list[str]
    """The label to explain, one per item."""
    output: str = "probability"
    steps: int = DEFAULT_STEPS
    baseline: str = ""
    side: int = 64
    """Heat maps are given for the image shrunk to at most this many pixels a side."""

    @classmethod
    def of(cls, parameters: dict[str, Any], count: int) -> Request:
        request = cls(**parameters)
        if len(request.targets) != count:
            raise Invalid.at("parameters.target", f"{len(request.targets)} targets for "
                             f"{count} items")
        return request


def score(logits: Any, target: int, *, output: str, multi_label: bool) -> Any:
    """Each row's explained output: the target's probability or log-odds."""
    import torch

    if multi_label:
        return torch.sigmoid(logits[:, target]) if output == "probability" else logits[:, target]
    if output == "probability":
        return torch.softmax(logits, dim=-1)[:, target]
    others = torch.cat([logits[:, :target], logits[:, target + 1:]], dim=1)
    return logits[:, target] - torch.logsumexp(others, dim=1)


def words_of(text: str, spans: list[tuple[int, int]], values: list[float]
             ) -> list[tuple[str, int, int, float]]:
    """Token values summed per word of ``text``, in order, as (word, start, end, value).

    Words are runs of word characters (what the SHAP answer names); a token between words
    (punctuation) counts towards the word before it, as SHAP keeps separators on the word they
    follow (the first word when none is before it). Tokens without characters (special tokens)
    are left out: with the baselines here they are the baseline's own, so their value is 0. A
    text without word characters is one word per run of non-space characters."""
    found = list(WORD.finditer(text)) or list(re.finditer(r"\S+", text))
    starts = [match.start() for match in found]
    sums = [0.0] * len(found)
    for (start, end), value in zip(spans, values, strict=True):
        if end > start and found:
            sums[max(0, bisect.bisect_right(starts, start) - 1)] += value
    return [(m.group(), m.start(), m.end(), total) for m, total in zip(found, sums, strict=True)]


def grid_size(image: Any, side: int) -> tuple[int, int]:
    """(rows, columns) of the explained grid: the image shrunk to fit ``side`` as SHAP's
    ``thumbnail`` shrinks it (never enlarged)."""
    small = image.copy()
    small.thumbnail((side, side))
    return small.height, small.width


def onto_grid(heat: Any, rows: int, columns: int) -> Any:
    """A (height, width) map of input pixels on a (rows, columns) grid, its total kept: the
    adjoint of bilinear upsampling from the grid to the input, so each input pixel's value is
    shared among the grid cells it would be interpolated from (weights that sum to 1)."""
    import torch
    import torch.nn.functional as F

    if tuple(heat.shape) == (rows, columns):
        return heat
    cells = torch.zeros(1, 1, rows, columns, dtype=heat.dtype, requires_grad=True)
    upsampled = F.interpolate(cells, size=tuple(heat.shape), mode="bilinear", align_corners=False)
    (shared,) = torch.autograd.grad(upsampled, cells, grad_outputs=heat[None, None])
    return shared[0, 0]


def spread(heat: Any, rows: int, columns: int) -> Any:
    """A (height, width) map shared out onto a finer (rows, columns) grid, its total kept: bilinear
    upsampling of each cell's value divided by the weight the upsampling gives that cell in all,
    so the finer map is smooth and sums to the same total (``onto_grid`` goes the other way)."""
    import torch
    import torch.nn.functional as F

    if tuple(heat.shape) == (rows, columns):
        return heat
    weights = onto_grid(torch.ones(rows, columns, dtype=heat.dtype), *heat.shape)
    return F.interpolate((heat / weights)[None, None], size=(rows, columns), mode="bilinear",
                         align_corners=False)[0, 0]


def explain_texts(texts: list[str], request: Request, *, labels: list[str], multi_label: bool,
                  tokenizer: Any, max_length: int, embeddings: Any,
                  logits_of: Callable[[Any, Any], Any], device: str,
                  lowercase: bool = False) -> list[Explanation]:
    """Layer Integrated Gradients of each text's words. ``logits_of(input_ids,
    attention_mask)`` is the model's logits; ``embeddings`` its input embedding layer."""
    import torch
    from captum.attr import LayerIntegratedGradients

    if request.method not in TEXT_METHODS:
        raise Invalid.at("parameters.method", f"{request.method!r} does not apply to texts; use "
                         f"one of: {', '.join(TEXT_METHODS)}")
    if not getattr(tokenizer, "is_fast", False):
        raise Invalid.at("parameters.method", "integrated_gradients needs a fast tokenizer "
                         "(character offsets of its tokens); this model's is not")
    replacement = _baseline_token(tokenizer, request.baseline)
    explained = []
    for text, label in zip(texts, request.targets, strict=True):
        target = labels.index(label)
        encoded = tokenizer(text.lower() if lowercase else text, truncation=True,
                            max_length=max_length, return_offsets_mapping=True,
                            return_special_tokens_mask=True, return_tensors="pt")
        ids = encoded["input_ids"].to(device)
        mask = encoded["attention_mask"].to(device)
        special = encoded["special_tokens_mask"].to(device).bool()
        baseline = torch.where(special, ids, torch.full_like(ids, replacement))

        def forward(input_ids: Any, attention_mask: Any, target: int = target) -> Any:
            return score(logits_of(input_ids, attention_mask), target,
                         output=request.output, multi_label=multi_label)

        method = LayerIntegratedGradients(forward, embeddings)
        attributions, delta = method.attribute(
            ids, baselines=baseline, additional_forward_args=(mask,), n_steps=request.steps,
            internal_batch_size=INTERNAL_BATCH, return_convergence_delta=True)
        with torch.no_grad():
            output, base = forward(ids, mask), forward(baseline, mask)
        values = attributions.sum(dim=-1)[0].double().cpu().tolist()
        spans = [(int(a), int(b)) for a, b in encoded["offset_mapping"][0].tolist()]
        words = words_of(text, spans, values)
        explained.append(Explanation(
            label, request.method, float(output[0]), float(base[0]), float(delta[0]),
            tuple(Attribution(word, value, start, end) for word, start, end, value in words),
            evaluations=request.steps + 2))
    return explained


def _baseline_token(tokenizer: Any, baseline: str) -> int:
    name = {"pad": "pad_token_id", "mask": "mask_token_id"}.get(baseline or "pad")
    if name is None:
        raise Invalid.at("parameters.baseline", f"{baseline!r} is not a text baseline; use one "
                         f"of: {', '.join(TEXT_BASELINES)}")
    token = getattr(tokenizer, name, None)
    if token is None:
        raise Invalid.at("parameters.baseline", f"this model's tokenizer has no "
                         f"{baseline or 'pad'} token; use another baseline")
    return int(token)


def baseline_image(image: Any, baseline: str) -> Any:
    """The image the baseline stands for, as a picture the model's own preprocessing takes."""
    from PIL import Image, ImageFilter, ImageStat

    if baseline in ("", "mean"):
        return Image.new(image.mode, image.size, tuple(round(v) for v in ImageStat.Stat(image).mean))
    if baseline == "black":
        return Image.new(image.mode, image.size)
    if baseline == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, max(image.size) / 8)))
    raise Invalid.at("parameters.baseline", f"{baseline!r} is not an image baseline; use one "
                     f"of: {', '.join(IMAGE_BASELINES)}")


CamLayer = Callable[[], Any]
"""Entered as a context manager, yields the module whose output Grad-CAM reads (4-D)."""


def explain_images(images: list[Any], request: Request, *, labels: list[str],
                   multi_label: bool, prepare: Callable[[list[Any]], Any],
                   logits_of: Callable[[Any], Any], cam_layer: CamLayer | None
                   ) -> list[Explanation]:
    """Integrated Gradients or Grad-CAM of each image. ``prepare`` makes the model's input
    tensor of pictures (on the model's device), ``logits_of`` runs the model on it."""
    import torch

    if request.method not in IMAGE_METHODS:
        raise Invalid.at("parameters.method", f"{request.method!r} does not apply to images")
    if request.method == "grad_cam" and cam_layer is None:
        raise Invalid.at("parameters.method", "grad_cam needs a convolutional network or a "
                         "ViT; this model is neither; use integrated_gradients or partition")
    explained = []
    for image, label in zip(images, request.targets, strict=True):
        target = labels.index(label)
        rows, columns = grid_size(image, request.side)
        pixels = prepare([image])

        def forward(batch: Any, target: int = target) -> Any:
            return score(logits_of(batch), target, output=request.output,
                         multi_label=multi_label)

        with torch.no_grad():
            output = float(forward(pixels)[0])
        if request.method == "integrated_gradients":
            from captum.attr import IntegratedGradients

            reference = prepare([baseline_image(image, request.baseline)])
            attributions, delta = IntegratedGradients(forward).attribute(
                pixels, baselines=reference, n_steps=request.steps,
                internal_batch_size=INTERNAL_BATCH, return_convergence_delta=True)
            heat = onto_grid(attributions[0].sum(dim=0).double(), rows, columns)
            with torch.no_grad():
                base: float | None = float(forward(reference)[0])
            gap: float | None = float(delta[0])
            evaluations = request.steps + 2
        else:
            assert cam_layer is not None
            heat, base, gap, evaluations = _grad_cam(forward, pixels, cam_layer, rows,
                                                     columns), None, None, 2
        explained.append(Explanation(
            label, request.method, output, base, gap,
            heatmap=tuple(tuple(row) for row in heat.detach().double().cpu().tolist()),
            evaluations=evaluations))
    return explained


def _grad_cam(forward: Callable[[Any], Any], pixels: Any, cam_layer: CamLayer, rows: int,
              columns: int) -> Any:
    from captum.attr import LayerAttribution, LayerGradCam

    with cam_layer() as layer:
        cam = LayerGradCam(forward, layer).attribute(pixels, relu_attributions=True)
    return LayerAttribution.interpolate(cam, (rows, columns), "bilinear")[0, 0]


def cam_layer_of(model: Any) -> CamLayer | None:
    """Where Grad-CAM reads a model: a ViT's patch tokens before its last block's attention, as
    their grid; else the last convolution; ``None`` for a model with neither."""
    from torch import nn

    config = getattr(model, "config", None)
    vit_blocks = [(name, module) for name, module in model.named_modules()
                  if isinstance(getattr(module, "layernorm_before", None), nn.LayerNorm)]
    if vit_blocks and config is not None and getattr(config, "patch_size", None):
        size, patch = _pair(config.image_size), _pair(config.patch_size)
        block = vit_blocks[-1][1]
        return lambda: _patch_grid(block, size[0] // patch[0], size[1] // patch[1])
    convolutions = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convolutions or vit_blocks:
        return None
    last = convolutions[-1]

    @contextmanager
    def plain() -> Iterator[Any]:
        yield last

    return plain


def _pair(value: Any) -> tuple[int, int]:
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (
        int(value), int(value))


@contextmanager
def _patch_grid(block: Any, rows: int, columns: int) -> Iterator[Any]:
    """The block's first layer norm wrapped, while the explanation runs, so that its patch
    tokens pass through an identity module as a (batch, hidden, rows, columns) map; the
    function is unchanged (the class and distillation tokens pass beside it)."""
    from torch import nn

    class PatchGrid(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.grid = inner, nn.Identity()

        def forward(self, states: Any) -> Any:
            import torch

            normed = self.inner(states)
            prefix = normed.shape[1] - rows * columns
            if prefix not in (1, 2):
                raise Invalid.at("parameters.method", "grad_cam: this ViT's tokens do not form "
                                 "its patch grid; use integrated_gradients or partition")
            patches = normed[:, prefix:].transpose(1, 2).reshape(
                normed.shape[0], normed.shape[2], rows, columns)
            patches = self.grid(patches)
            return torch.cat([normed[:, :prefix], patches.flatten(2).transpose(1, 2)], dim=1)

    inner = block.layernorm_before
    wrapper = PatchGrid(inner)
    block.layernorm_before = wrapper
    try:
        yield wrapper.grid
    finally:
        block.layernorm_before = inner
