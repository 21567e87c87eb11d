"""The evaluation pages: the tenant's evaluations with a form that starts one, one evaluation's
metrics and plots, and two evaluations compared side by side.

Reads go through ``EvaluationService`` as the signed-in key (another tenant's evaluation is a 404
page); an evaluation is started by the page's script with the real ``POST /api/v1/evaluations``
(it runs in that request), so the console refuses exactly what the API refuses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.training_pages import param_fields
from aiaas.auth.principal import Scope
from aiaas.training.evaluation_tasks import TASKS, EvaluationParams
from aiaas.training.evaluations import EvaluationInfo

router = APIRouter(route_class=PageRoute, include_in_schema=False)
HEADLINE = ("accuracy", "f1_macro", "roc_auc", "rmse", "mae", "r2", "mape", "interval_coverage")
"""The metrics the list shows, the first three an evaluation has."""


def headline(metrics: dict[str, Any]) -> list[tuple[str, float]]:
    return [(name, metrics[name]) for name in HEADLINE
            if isinstance(metrics.get(name), int | float)][:3]


@dataclass(frozen=True)
class Compared:
    metric: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """Top-level numbers, then each class's F1 (``f1 · <class>``)."""
    found = {name: value for name, value in metrics.items()
             if isinstance(value, int | float) and not isinstance(value, bool)}
    for label, scores in (metrics.get("per_class") or {}).items():
        if isinstance(scores, dict) and isinstance(scores.get("f1"), int | float):
            found[f"f1 · {label}"] = scores["f1"]
    return found


def compare(a: EvaluationInfo, b: EvaluationInfo) -> list[Compared]:
    """One row per metric either evaluation has, in A's order then B's."""
    left, right = _scalars(a.metrics), _scalars(b.metrics)
    names = list(left) + [name for name in right if name not in left]
    return [Compared(name, left.get(name), right.get(name)) for name in names]


def _label(e: EvaluationInfo) -> str:
    return f"{e.model} v{e.version} on {e.dataset} ({e.split}, {e.created_at:%m-%d %H:%M})"


@router.get("/evaluations")
async def evaluations_page(request: Request, view: SessionDep) -> Response:
    services, principal = request.app.state.services, view.principal
    found = await asyncio.to_thread(services.evaluations.list_evaluations, principal, limit=200)
    can_evaluate = principal.allows(Scope.PREDICT)
    models, datasets = [], []
    if can_evaluate:
        every = await asyncio.to_thread(services.registry.list_models, principal)
        models = [m for m in every if m.task in TASKS and m.versions]
        datasets = await asyncio.to_thread(services.jobs.catalog.entries, principal)
    versions = {m.name: [{"version": v.version, "aliases": v.aliases} for v in m.versions]
                for m in models}
    return page(request, view, "evaluations.html", evaluations=found, headline=headline,
                label=_label, can_evaluate=can_evaluate, models=models, datasets=datasets,
                versions=versions, fields=param_fields(EvaluationParams))


@router.get("/evaluations/compare")
async def compare_page(request: Request, view: SessionDep, a: str = "", b: str = "") -> Response:
    service = request.app.state.services.evaluations
    found = await asyncio.to_thread(service.list_evaluations, view.principal, limit=200)
    left = await asyncio.to_thread(service.get, view.principal, a) if a else None
    right = await asyncio.to_thread(service.get, view.principal, b) if b else None
    rows = compare(left, right) if left is not None and right is not None else []
    plots = ([] if left is None or right is None else
             left.plots + [name for name in right.plots if name not in left.plots])
    return page(request, view, "evaluations_compare.html", evaluations=found, label=_label,
                a=left, b=right, rows=rows, plots=plots)


@router.get("/evaluations/{evaluation_id}")
async def evaluation_page(request: Request, view: SessionDep, evaluation_id: str) -> Response:
    service = request.app.state.services.evaluations
    evaluation = await asyncio.to_thread(service.get, view.principal, evaluation_id)
    found = await asyncio.to_thread(service.list_evaluations, view.principal, limit=200)
    return page(request, view, "evaluation.html", evaluation=evaluation,
                others=[(e.id, _label(e)) for e in found if e.id != evaluation.id])
