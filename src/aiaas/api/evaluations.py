"""Evaluation routes: score a model version on a dataset, list and show the results, serve plots.

Creating needs ``predict`` and ``models:read`` (the rows go through the model like any
prediction, metered as surface ``evaluation``); reading needs ``models:read``: the evaluation
service checks both. Another tenant's
model, dataset or evaluation is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.training.evaluations import EvaluationInfo

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"], responses=ERRORS)


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), json_schema_extra={"examples": [{
        "model": "breast-cancer-diagnosis", "dataset": "builtin:breast_cancer", "split": "test",
        "params": {"seed": 0},
    }]})

    model: str = Field(max_length=128, description="A registered model (the tenant's or a built-in).")
    version: Annotated[str, Field(max_length=64)] | int | None = Field(
        default=None, description="A version number or alias (default: production, else the latest).")
    dataset: str = Field(max_length=200, description="An uploaded dataset's id or name, or builtin:NAME.")
    split: Literal["test", "all"] = Field(
        default="test", description="test: the held-out rows a job with the same seed and "
                                    "test_fraction never saw (a series: its last horizon points); "
                                    "all: every row.")
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "label, text, timestamp, value (column names), seed, test_fraction, validation_fraction, "
        "horizon (forecasts)."))


class EvaluationList(BaseModel):
    evaluations: list[EvaluationInfo]


@router.post("", response_model=EvaluationInfo, status_code=201)
async def create_evaluation(body: EvaluationCreate, principal: PrincipalDep,
                            services: ServicesDep) -> EvaluationInfo:
    """Send the dataset's rows through the model as served, score the answers with
    scikit-learn's metrics, draw the plots and store the result (at most 20,000 rows)."""
    info = await services.evaluations.evaluate(
        principal, model=body.model, dataset=body.dataset, version=body.version, split=body.split,
        params=body.params)
    return info


@router.get("", response_model=EvaluationList)
async def list_evaluations(principal: PrincipalDep, services: ServicesDep,
                           model: Annotated[str | None, Query(max_length=128)] = None,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> EvaluationList:
    """The tenant's evaluations, newest first; ``model`` keeps one model's."""
    found = await asyncio.to_thread(services.evaluations.list_evaluations, principal,
                                    model=model, limit=limit)
    return EvaluationList(evaluations=found)


@router.get("/{evaluation_id}", response_model=EvaluationInfo)
async def show_evaluation(evaluation_id: str, principal: PrincipalDep,
                          services: ServicesDep) -> EvaluationInfo:
    return await asyncio.to_thread(services.evaluations.get, principal, evaluation_id)


@router.get("/{evaluation_id}/plots/{name}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
async def evaluation_plot(evaluation_id: str, name: str, principal: PrincipalDep,
                          services: ServicesDep) -> Response:
    """A plot the evaluation drew (its ``plots`` lists them): confusion_matrix, roc_curve,
    predicted_vs_actual, forecast."""
    png = await asyncio.to_thread(services.evaluations.plot, principal, evaluation_id, name)
    return Response(png, media_type="image/png")
