"""Native predict: ``POST /api/v1/models/{name}[/versions/{ref}]/predict``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse

from aiaas.api.deps import PredictorDep, ServicesDep
from aiaas.api.schemas import ERRORS, PredictRequest, PredictResponse

router = APIRouter(prefix="/api/v1/models", tags=["predict"], responses=ERRORS)


async def _predict(services: ServicesDep, principal: PredictorDep, name: str,
                   body: PredictRequest, ref: str | None) -> ORJSONResponse:
    result = await services.runtime.predict(
        principal, name, body.inputs, body.parameters, ref=ref, surface="native"
    )
    return ORJSONResponse({"model": result.model, "version": result.version,
                           "outputs": result.outputs, "usage": result.usage})


@router.post("/{name}/predict", response_model=PredictResponse)
async def predict(name: str, body: PredictRequest, principal: PredictorDep,
                  services: ServicesDep) -> ORJSONResponse:
    """Run the ``production`` version (or the latest when no alias is set)."""
    return await _predict(services, principal, name, body, None)


@router.post("/{name}/versions/{ref}/predict", response_model=PredictResponse)
async def predict_version(name: str, ref: str, body: PredictRequest, principal: PredictorDep,
                          services: ServicesDep) -> ORJSONResponse:
    """Run one version, by number or alias."""
    return await _predict(services, principal, name, body, ref)
