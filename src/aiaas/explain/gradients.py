"""Gradient methods as the explain service offers them: which apply to a model, their parameters
checked, and the backend's answers (``aiaas.runtime.gradients``, run where the model is loaded)
shaped like the SHAP ones: ``words`` with character offsets for texts, a ``heatmap`` on the same
grid and an ``overlay_png`` for images, ``base_value`` + attributions = ``output_value`` (up to
``delta``, captum's convergence delta, for Integrated Gradients).

They apply to models served with their PyTorch form (transformers and embedding-head text
classifiers, transformers image classifiers, the CNNs trained here); a model served without
gradients (an ONNX graph, a transformers model served through its ONNX export) is explained by
SHAP over its predictions, the model-agnostic path.
"""

from __future__ import annotations

import base64
from typing import Any

from aiaas.errors import Invalid
from aiaas.explain import methods
from aiaas.runtime import gradients
from aiaas.tasks.outputs import Explanation

TEXT = "text-classification"
IMAGE = "image-classification"
METHODS: dict[str, tuple[str, ...]] = {TEXT: gradients.TEXT_METHODS,
                                       IMAGE: gradients.IMAGE_METHODS}
BASELINES: dict[str, tuple[str, ...]] = {TEXT: gradients.TEXT_BASELINES,
                                         IMAGE: gradients.IMAGE_BASELINES}
AUTO: dict[str, str] = {}
"""The gradient method ``auto`` picks per task when the model has gradients; a task not here
keeps partition SHAP. Chosen by ``bench/explain.py``'s faithfulness measures: a gradient method
is picked only where it is at least as faithful as SHAP."""


def choose(task: str, method: str, available: tuple[str, ...], offered: tuple[str, ...]) -> str:
    """The method to run: ``auto`` resolved, a gradient method checked against what the
    model's backend answers (``available``); ``Invalid`` naming ``parameters.method`` else."""
    if method == "auto":
        picked = AUTO.get(task)
        return picked if picked is not None and picked in available else "partition"
    if method in METHODS.get(task, ()) and method not in available:
        applies = [m for m in offered if m not in METHODS[task] or m in available]
        why = ("this version is served without its PyTorch form (an ONNX graph, or a "
               "transformers model served through its ONNX export)" if not available else
               f"this model answers {', '.join(available)} only")
        raise Invalid.at("parameters.method", f"{method!r} needs the model's gradients and "
                         f"{why}; use one of: auto, {', '.join(applies)}")
    return method


def check(task: str, method: str, given: dict[str, Any]) -> None:
    """Refuse settings the chosen method does not take, naming them: ``steps`` and
    ``baseline`` are Integrated Gradients', ``samples`` SHAP's; a baseline must be one of the
    task's."""
    uses_steps = method == "integrated_gradients"
    for name in ("steps", "baseline"):
        if given.get(name) is not None and not uses_steps:
            raise Invalid.at(f"parameters.{name}", f"{name} is a setting of "
                             f"integrated_gradients; method {method} does not take it")
    if given.get("samples") is not None and method in METHODS.get(task, ()):
        raise Invalid.at("parameters.samples", f"samples is a setting of the SHAP methods; "
                         f"{method} takes steps (Integrated Gradients) or nothing (Grad-CAM)")
    baseline = given.get("baseline")
    if baseline is not None and baseline not in BASELINES.get(task, ()):
        raise Invalid.at("parameters.baseline", f"{baseline!r} is not a baseline for {task}; "
                         f"use one of: {', '.join(BASELINES[task])}")


def request(task: str, method: str, targets: list[str], given: dict[str, Any]) -> dict[str, Any]:
    """The backend's parameters (``runtime.gradients.Request``), defaults filled in."""
    return {"method": method, "targets": targets, "output": given.get("output") or "probability",
            "steps": given.get("steps") or gradients.DEFAULT_STEPS,
            "baseline": given.get("baseline") or BASELINES[task][0],
            "side": given.get("heatmap_side") or methods.HEATMAP_SIDE}


def answer(task: str, item: Any, found: Explanation, settings: dict[str, Any]) -> dict[str, Any]:
    """One explanation's fields beside the prediction, as the SHAP path names them."""
    fields: dict[str, Any] = {"base_value": found.base_value, "output_value": found.output_value}
    if found.method == "integrated_gradients":
        fields.update(delta=found.delta, baseline=settings["baseline"])
    if task == TEXT:
        fields["words"] = [{"word": part.name, "start": part.start, "end": part.end,
                            "attribution": part.weight} for part in found.attributions]
        return fields
    values, picture = methods.shown(item, found.heatmap, settings["side"])
    fields["heatmap"] = values
    fields["overlay_png"] = base64.b64encode(picture).decode()
    return fields
