"""Explanations as a service: which method explains which model, checked parameters, and the
answer per item.

``ExplainService.explain`` goes through the front door (``FrontDoor.explain``: the caller's key,
admission checks, the task's input checks, usage with surface ``explain`` counting the model
evaluations spent) and runs the method on its own queue (``ExplainQueue``).

Tasks and methods (``method: auto`` picks the first, or a gradient method where
``gradients.AUTO`` says so and the model has gradients):
- ``tabular-classification`` / ``tabular-regression``: ``exact`` (up to 10 features) or
  ``permutation`` SHAP against a background sample: the one stored with the model
  (``background.json``, which training jobs write), else ``parameters.background`` (rows like
  ``inputs``), else a 422 saying so;
- ``text-classification``: ``partition`` SHAP over the words, or ``integrated_gradients`` on the
  input embeddings of a model served on PyTorch (``aiaas.explain.gradients``);
- ``image-classification``: ``partition`` SHAP over the pixels (a heat map and a PNG overlay), or
  for a model served on PyTorch ``integrated_gradients`` on its input pixels or ``grad_cam``;
- ``forecasting``: per forecast step, its trend plus ``exact`` (or ``permutation``, past 10
  inputs) SHAP of the residual model's inputs (lags, calendar) against the rows of the model's
  stored series (``aiaas.explain.forecast``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiaas.calls import FrontDoor, ModelCall, ResolvedCall
from aiaas.calls.call import CallResult
from aiaas.calls.front_door import OnModel
from aiaas.errors import Invalid
from aiaas.explain import forecast, gradients, methods
from aiaas.explain.queue import ExplainQueue
from aiaas.registry.service import Registry
from aiaas.runtime.gradients import MAX_STEPS
from aiaas.tasks.base import Prediction
from aiaas.tasks.tabular import BACKGROUND_FILE
from aiaas.tasks.units import Units

TABULAR = ("tabular-classification", "tabular-regression")
TEXT = "text-classification"
IMAGE = "image-classification"
FORECASTING = "forecasting"
METHODS: dict[str, tuple[str, ...]] = {TABULAR[0]: ("exact", "permutation"),
                                       TABULAR[1]: ("exact", "permutation"),
                                       TEXT: ("partition", *gradients.METHODS[TEXT]),
                                       IMAGE: ("partition", *gradients.METHODS[IMAGE]),
                                       FORECASTING: ("exact", "permutation")}
MAX_ITEMS = 16
MAX_SAMPLES = 20_000
MAX_BACKGROUND = 500
SURFACE = "explain"


class ExplainParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "exact", "permutation", "partition", "integrated_gradients",
                    "grad_cam"] = "auto"
    target: str | None = Field(None, description="The label to explain; default: the predicted "
                               "one. Not for regression.")
    output: Literal["probability", "log_odds"] = Field(
        "probability", description="What the attributions add up to for a classifier.")
    samples: int | None = Field(None, ge=1, le=MAX_SAMPLES, description="Model evaluations per "
                                "item (permutation, partition); more is slower and steadier.")
    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="integrated_gradients: "
                              "interpolation steps from the baseline (default 32); more is "
                              "slower and closer (a smaller delta).")
    baseline: Literal["pad", "mask", "mean", "black", "blur"] | None = Field(
        None, description="integrated_gradients: what the input is compared with; text: pad "
        "(default) or mask tokens in place of its tokens; image: the image's mean colour "
        "(default), black, or the image blurred.")
    heatmap_side: int | None = Field(None, ge=1, le=methods.MAX_HEATMAP_SIDE, description=(
        f"Images: the heat map (and overlay) at most this many pixels a side; default: the "
        f"image's own size, up to {methods.HEATMAP_SIDE}. Never larger than the image."))
    background: list[Any] | None = Field(None, min_length=1, max_length=MAX_BACKGROUND,
                                         description="Tabular: rows like inputs, for a model "
                                         "stored without a background sample (a forecaster's "
                                         "is its stored series).")


class ExplainService:
    def __init__(self, calls: FrontDoor, registry: Registry, queue: ExplainQueue) -> None:
        self.calls = calls
        self.registry = registry
        self.queue = queue

    async def explain(self, call: ModelCall, parameters: ExplainParameters) -> CallResult:
        """One explanation per input (``MAX_ITEMS`` at most), each beside its prediction."""
        if isinstance(call.inputs, list) and len(call.inputs) > MAX_ITEMS:
            raise Invalid.at("inputs", f"at most {MAX_ITEMS} items per explain call "
                             f"(got {len(call.inputs)})")
        resolved = await self.calls.resolve(replace(call, surface=SURFACE))
        method = _method(resolved, parameters)

        async def run(resolved: ResolvedCall, items: list[Any], model: OnModel
                      ) -> tuple[list[Any], Units]:
            return await self.queue.run(lambda: self._explain(resolved, items, model,
                                                              method, parameters))

        return await self.calls.explain(resolved, run)

    def _explain(self, resolved: ResolvedCall, items: list[Any], model: OnModel, method: str,
                 parameters: ExplainParameters) -> tuple[list[Any], Units]:
        version, predict = resolved.version, model.predict
        classes = version.config.get("labels") if version.task != TABULAR[1] else None
        if parameters.target is not None and not classes:
            raise Invalid.at("parameters.target", f"{version.task} has no labels to pick from")
        if classes and parameters.target is not None and parameters.target not in classes:
            raise Invalid.at("parameters.target", f"unknown label {parameters.target!r}; the "
                             f"model's labels are: {', '.join(map(str, classes))}")
        given = parameters.model_dump(exclude_unset=True)
        if version.task in (TEXT, IMAGE):
            method = gradients.choose(version.task, method, model.methods,
                                      METHODS[version.task])
            gradients.check(version.task, method, given)
        elif given.get("steps") is not None or given.get("baseline") is not None:
            field = "steps" if given.get("steps") is not None else "baseline"
            raise Invalid.at(f"parameters.{field}", f"{field} is a setting of "
                             "integrated_gradients, for text and image classifiers")
        if given.get("heatmap_side") is not None and version.task != IMAGE:
            raise Invalid.at("parameters.heatmap_side", "heatmap_side is a setting of image "
                             f"explanations; {version.task} models have no heat map")
        if version.task == FORECASTING:
            return self._forecast(resolved, items, predict, method, parameters)
        background = self._background(resolved, parameters) if version.task in TABULAR else []
        predictions = predict(items)
        if method in gradients.METHODS.get(version.task, ()):
            return self._gradients(resolved, items, predictions, model, method, given)
        answers, evaluations = [], len(items)
        for item, prediction in zip(items, predictions, strict=True):
            target = (parameters.target or str(prediction.output.label)) if classes else None
            scorer = methods.Scorer(predict, target, log_odds=parameters.output == "log_odds")
            output_value = scorer.score_one(prediction.output)
            if version.task in TABULAR:
                [found] = methods.tabular(scorer, [item], background, method=method,
                                          samples=parameters.samples,
                                          features=list(version.config["feature_names"]))
                base_value = found.base_value
                detail: dict[str, Any] = {"features": sorted(
                    ({"name": name, "value": value, "attribution": weight}
                     for name, value, weight in zip(found.parts, item, found.values, strict=True)),
                    key=lambda entry: -abs(entry["attribution"]))}
            elif version.task == IMAGE:
                [heat] = methods.image(scorer, [item], samples=parameters.samples)
                base_value, output_value = heat.base_value, heat.output_value
                values, picture = methods.shown(item, heat.values, _side(parameters))
                detail = {"heatmap": values, "overlay_png": base64.b64encode(picture).decode()}
            else:
                [found] = methods.text(scorer, [item], samples=parameters.samples)
                base_value = found.base_value
                detail = {"words": [{"word": word, "start": start, "end": end, "attribution": value}
                                    for (word, start, end), value in zip(
                                        methods.word_spans(item, found.parts), found.values,
                                        strict=True) if word]}
            evaluations += scorer.evaluations
            answers.append({"prediction": prediction.output, "method": method, "target": target,
                            "output": parameters.output if classes else "value",
                            "base_value": base_value, "output_value": output_value, **detail})
        return answers, Units(items=evaluations)

    def _gradients(self, resolved: ResolvedCall, items: list[Any],
                   predictions: list[Prediction], model: OnModel, method: str,
                   given: dict[str, Any]) -> tuple[list[Any], Units]:
        """The model's backend explains the items where it is loaded (``OnModel.explain``)."""
        task = resolved.version.task
        targets = [given.get("target") or str(p.output.label) for p in predictions]
        settings = gradients.request(task, method, targets, given)
        found = model.explain(items, settings)
        answers = [{"prediction": prediction.output, "method": method, "target": target,
                    "output": settings["output"], **gradients.answer(task, item, one, settings)}
                   for item, prediction, target, one in zip(items, predictions, targets, found,
                                                            strict=True)]
        return answers, Units(items=len(items) + sum(one.evaluations for one in found))

    def _forecast(self, resolved: ResolvedCall, items: list[Any],
                  predict: Callable[[list[Any]], list[Prediction]], method: str,
                  parameters: ExplainParameters) -> tuple[list[Any], Units]:
        """A forecaster's steps explained; its residual model is loaded here for SHAP's rows."""
        if parameters.background is not None:
            raise Invalid.at("parameters.background", "a forecaster is explained against the "
                             "rows of its own stored series; send newer points as "
                             "inputs[i].history instead")
        model = forecast.Forecaster.open(Path(self.registry.artifact_path(resolved.version)),
                                         resolved.version.config)
        try:
            return model.explain(items, predict, method=_by_width(method, len(model.features)),
                                 samples=parameters.samples)
        finally:
            model.close()

    def _background(self, resolved: ResolvedCall, parameters: ExplainParameters
                    ) -> list[list[float]]:
        config, task = resolved.version.config, resolved.task
        if parameters.background is not None:
            rows = []
            for index, row in enumerate(parameters.background):
                try:
                    rows.append(task.check_item(row, index, config, self.calls.limits))
                except Invalid as exc:
                    raise exc.renamed(f"parameters.background[{index}]") from None
            return rows
        stored = Path(self.registry.artifact_path(resolved.version)) / BACKGROUND_FILE
        if stored.is_file():
            rows = json.loads(stored.read_text())
            if isinstance(rows, list) and rows:
                return [[float(v) for v in row] for row in rows]
        raise Invalid.at("parameters.background", f"model {resolved.version.model!r} has no "
                         "stored background sample (models trained here have one); send rows "
                         "like inputs as parameters.background (up to "
                         f"{MAX_BACKGROUND}), for example a sample of its training data")


def _side(parameters: ExplainParameters) -> int:
    return parameters.heatmap_side or methods.HEATMAP_SIDE


def _method(resolved: ResolvedCall, parameters: ExplainParameters) -> str:
    task = resolved.version.task
    offered = METHODS.get(task)
    if offered is None:
        raise Invalid(f"explanations are not available for {task} models; they cover "
                      f"{', '.join(METHODS)}", details={"field": "model"})
    if parameters.method != "auto" and parameters.method not in offered:
        raise Invalid.at("parameters.method", f"{parameters.method!r} does not apply to {task}; "
                         f"use one of: auto, {', '.join(offered)}")
    if task in TABULAR:
        return _by_width(parameters.method, len(resolved.version.config["feature_names"]))
    if task == FORECASTING:
        return parameters.method  # its inputs are known once its spec is read (_forecast)
    return parameters.method  # text and images: auto needs the model's gradients (_explain)


def _by_width(method: str, width: int) -> str:
    """``auto``: exact SHAP up to ``EXACT_MAX_FEATURES`` inputs (2^n model evaluations per row
    and background row), permutation past them, where ``exact`` is refused."""
    if method == "auto":
        return "exact" if width <= methods.EXACT_MAX_FEATURES else "permutation"
    if method == "exact" and width > methods.EXACT_MAX_FEATURES:
        raise Invalid.at("parameters.method", f"exact SHAP takes up to "
                         f"{methods.EXACT_MAX_FEATURES} features; use permutation")
    return method

