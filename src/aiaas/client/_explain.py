"""Explanations in ``Client`` and ``AsyncClient``: the call, its result and the two mixins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiaas.client._calls import Call, _model_path, one
from aiaas.client._models import _Result
from aiaas.client._sending import AsyncSender, SyncSender


class FeatureAttribution(_Result):
    name: str
    value: float
    attribution: float


class WordAttribution(_Result):
    word: str
    start: int
    end: int
    attribution: float


class ForecastStep(_Result):
    """One forecast step: ``value`` is ``trend`` plus ``output_value`` (the residual model's
    output), which is ``base_value`` plus the ``features``' attributions; ``lags`` and
    ``season`` are those of the lag and the calendar features."""

    timestamp: str
    value: float
    trend: float
    base_value: float
    output_value: float
    lags: float
    season: float
    features: list[FeatureAttribution]


class Explanation(_Result):
    """Why one item got its answer: ``base_value`` plus the attributions is ``output_value``
    (the ``target`` label's probability or log-odds, or a regression's value), within ``delta``
    for ``integrated_gradients`` (from ``baseline``); ``grad_cam`` maps do not add up (no
    ``base_value``). ``features`` (tabular, largest magnitude first), ``words`` (text, in text
    order) or ``heatmap`` and ``overlay_png`` (images); a forecast has ``steps`` instead, each
    with its own base and output value."""

    prediction: dict[str, Any]
    method: str
    target: str | None = None
    output: str
    base_value: float | None = None
    output_value: float | None = None
    features: list[FeatureAttribution] | None = None
    words: list[WordAttribution] | None = None
    heatmap: list[list[float]] | None = None
    overlay_png: str | None = None
    delta: float | None = None
    baseline: str | None = None
    steps: list[ForecastStep] | None = None


class Explanations(_Result):
    model: str
    version: int
    explanations: list[Explanation]
    usage: dict[str, Any]


def explain(name: str, inputs: Sequence[Any], *, parameters: Mapping[str, Any] | None,
            version: int | str | None) -> Call[Explanations]:
    path = _model_path(name, "explain") if version is None else _model_path(
        name, "versions", version, "explain")
    body = {"inputs": list(inputs), "parameters": {k: v for k, v in (parameters or {}).items()
                                                   if v is not None}}
    return Call("POST", path, one(Explanations), json=body)


class ExplainMethods(SyncSender):
    def explain(self, name: str, inputs: Sequence[Any], *, version: int | str | None = None,
                **parameters: Any) -> Explanations:
        """Explain each input's answer. ``parameters``: ``method`` (auto, exact, permutation,
        partition, integrated_gradients, grad_cam), ``target`` (a label), ``output``
        (probability, log_odds), ``samples``, ``steps`` and ``baseline`` (integrated_gradients),
        ``heatmap_side`` (images: the heat map's side, default the image's own size up to 256),
        ``background`` (tabular rows, for a model stored without a sample)."""
        return self._send(explain(name, inputs, parameters=parameters, version=version))


class AsyncExplainMethods(AsyncSender):
    async def explain(self, name: str, inputs: Sequence[Any], *, version: int | str | None = None,
                      **parameters: Any) -> Explanations:
        return await self._send(explain(name, inputs, parameters=parameters, version=version))
