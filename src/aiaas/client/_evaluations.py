"""Evaluation methods of ``Client`` and ``AsyncClient``: score a model version on a dataset, read
the stored results and download their plots."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiaas.client._calls import Call, many, one, segment
from aiaas.client._jobs import plot_target
from aiaas.client._models import Evaluation
from aiaas.client._sending import AsyncSender, SyncSender

EVALUATE_TIMEOUT = 600.0
"""Seconds to wait for an evaluation's answer: up to 20,000 rows go through the model first."""


def _path(evaluation_id: str, *rest: str) -> str:
    return "/".join(["/api/v1/evaluations", segment(evaluation_id), *rest])


def evaluate(model: str, dataset: str, version: str | int | None, split: str,
             params: Mapping[str, Any] | None, timeout: float | None) -> Call[Evaluation]:
    body = {"model": model, "dataset": dataset, "version": version, "split": split,
            "params": dict(params or {})}
    # Not resent: each evaluation is stored.
    return Call("POST", "/api/v1/evaluations", one(Evaluation), json=body, retryable=False,
                timeout=EVALUATE_TIMEOUT if timeout is None else timeout)


def get_evaluation(evaluation_id: str) -> Call[Evaluation]:
    return Call("GET", _path(evaluation_id), one(Evaluation))


def list_evaluations(model: str | None, limit: int) -> Call[list[Evaluation]]:
    params: dict[str, str | int | bool] = {"limit": limit}
    if model is not None:
        params["model"] = model
    return Call("GET", "/api/v1/evaluations", many(Evaluation, "evaluations"), params=params)


def evaluation_plot(evaluation_id: str, name: str) -> Call[bytes]:
    return Call("GET", _path(evaluation_id, "plots", f"{segment(name)}.png"),
                lambda response: response.content, accept="image/png")


class EvaluationMethods(SyncSender):
    def evaluate(self, model: str, dataset: str, *, version: str | int | None = None,
                 split: str = "test", params: Mapping[str, Any] | None = None,
                 read_timeout: float | None = None) -> Evaluation:
        """Score ``model`` (``version``: a number or alias; default ``production``, else the
        latest) on ``dataset`` (an uploaded dataset's id or name, or ``builtin:NAME``) as the API
        serves it, and store the result. ``split``: ``test`` (the rows a training job with the
        same ``params["seed"]``/``params["test_fraction"]`` held out) or ``all``. ``params``
        may also name columns (``label``, ``text``, ``timestamp``, ``value``) and a forecast's
        ``horizon``. Waits up to ``read_timeout`` seconds (default 600) for the answer, as the
        rows go through the model first; never retried."""
        return self._send(evaluate(model, dataset, version, split, params, read_timeout))

    def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return self._send(get_evaluation(evaluation_id))

    def list_evaluations(self, *, model: str | None = None, limit: int = 100) -> list[Evaluation]:
        """The tenant's evaluations, newest first (of ``model`` only, when given)."""
        return self._send(list_evaluations(model, limit))

    def download_evaluation_plot(self, evaluation_id: str, name: str,
                                 path: str | os.PathLike[str]) -> Path:
        """Save the evaluation's plot ``name`` (one of ``Evaluation.plots``) as a PNG at
        ``path`` (a file, or a directory to put ``<name>.png`` in); returns the file written."""
        target = plot_target(path, name)
        target.write_bytes(self._send(evaluation_plot(evaluation_id, name)))
        return target


class AsyncEvaluationMethods(AsyncSender):
    async def evaluate(self, model: str, dataset: str, *, version: str | int | None = None,
                       split: str = "test", params: Mapping[str, Any] | None = None,
                       read_timeout: float | None = None) -> Evaluation:
        """See ``Client.evaluate``."""
        return await self._send(evaluate(model, dataset, version, split, params, read_timeout))

    async def get_evaluation(self, evaluation_id: str) -> Evaluation:
        return await self._send(get_evaluation(evaluation_id))

    async def list_evaluations(self, *, model: str | None = None,
                               limit: int = 100) -> list[Evaluation]:
        return await self._send(list_evaluations(model, limit))

    async def download_evaluation_plot(self, evaluation_id: str, name: str,
                                       path: str | os.PathLike[str]) -> Path:
        target = plot_target(path, name)
        image: bytes = await self._send(evaluation_plot(evaluation_id, name))
        await asyncio.to_thread(target.write_bytes, image)
        return target
