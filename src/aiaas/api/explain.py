"""Explanations: ``POST /api/v1/models/{name}[/versions/{ref}]/explain``.

Same inputs as predict; ``parameters`` are the explanation's own (``ExplainParameters``). The
answer keeps each item's prediction and adds why: per feature (tabular), per word (text) or per
pixel (images: ``heatmap``), values that add up with ``base_value`` to ``output_value`` (within
``delta`` for Integrated Gradients; Grad-CAM maps do not add up); per step (forecasting), the
value split into ``trend``, ``base_value`` and the residual model's inputs (``lags``,
``season``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS
from aiaas.calls import ModelCall
from aiaas.explain.service import MAX_ITEMS, ExplainParameters

router = APIRouter(prefix="/api/v1/models", tags=["explain"], responses=ERRORS)


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"inputs": ["A wonderful, warm film."], "parameters": {"method": "auto"}}]})

    inputs: list[Any] = Field(min_length=1, max_length=MAX_ITEMS,
                              description="Items as predict takes them.")
    parameters: ExplainParameters = Field(default_factory=ExplainParameters)


class ExplainResponse(BaseModel):
    model: str
    version: int
    explanations: list[dict[str, Any]] = Field(description="Per item: prediction, method, "
                                               "target, base_value, output_value, and "
                                               "features (tabular), words (text) or heatmap "
                                               "and overlay_png (images), with delta and "
                                               "baseline for integrated_gradients; a "
                                               "forecast's base_value, output_value and "
                                               "features are per step, in steps.")
    usage: dict[str, Any]


async def _explain(services: ServicesDep, principal: PrincipalDep, name: str, ref: str | None,
                   body: ExplainRequest) -> ORJSONResponse:
    result = await services.explain.explain(
        ModelCall(principal, name, ref, inputs=body.inputs), body.parameters)
    return ORJSONResponse({"model": result.model, "version": result.version,
                           "explanations": result.outputs, "usage": result.usage, **result.notes})


@router.post("/{name}/explain", response_model=ExplainResponse)
async def explain(name: str, body: ExplainRequest, principal: PrincipalDep,
                  services: ServicesDep) -> ORJSONResponse:
    """Explain the ``production`` version's answers (or the latest's)."""
    return await _explain(services, principal, name, None, body)


@router.post("/{name}/versions/{ref}/explain", response_model=ExplainResponse)
async def explain_version(name: str, ref: str, body: ExplainRequest, principal: PrincipalDep,
                          services: ServicesDep) -> ORJSONResponse:
    """Explain one version's answers, by number or alias."""
    return await _explain(services, principal, name, ref, body)
