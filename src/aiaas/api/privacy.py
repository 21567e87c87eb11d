"""PII: ``POST /api/v1/privacy/analyze`` (try the analyzer on texts), and the policies of a
tenant (``/api/v1/tenants/{t}/privacy``) and of a key (``/api/v1/keys/{id}/privacy``).

Thin: ``PrivacyService`` checks the scope (changing a policy needs an admin key; a key reads its
own tenant's), the values (a 422 naming the field) and the owner (another tenant is a 404).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS

router = APIRouter(prefix="/api/v1", tags=["privacy"], responses=ERRORS)

Mode = Literal["off", "detect", "redact", "block", "pseudonymize"]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["Call Ann Lee on +44 20 7946 0958 or ann.lee@example.org"]}]})

    texts: list[Any] = Field(description="1 to 256 texts.")
    entities: list[str] | None = Field(default=None, description="Only these entity types "
                                       "(null: all).")


class EntityOut(BaseModel):
    type: str
    start: int
    end: int
    score: float


class AnalyzedText(BaseModel):
    entities: list[EntityOut]
    redacted: str = Field(description="The text with typed placeholders (<PERSON_1>), numbered "
                          "across the texts of this call.")


class AnalyzeResponse(BaseModel):
    results: list[AnalyzedText]


class PolicySet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"mode": "redact"}, {"mode": "pseudonymize", "model": "smollm2-135m-instruct"},
        {"mode": "block", "entities": ["CREDIT_CARD", "IBAN_CODE", "US_SSN"]}]})

    mode: Mode | None = Field(description="null removes the policy (the next less specific one "
                              "applies).")
    entities: list[str] | None = Field(default=None, description="Entity types acted on "
                                       "(null: all).")
    model: str | None = Field(default=None, description="Only the tenant's calls to this model.")


class PolicyOut(BaseModel):
    tenant: str
    key_id: str | None
    model: str | None
    mode: Mode
    entities: list[str] | None
    source: str = Field(description="Where the policy in force comes from: key, model, tenant "
                        "or default (the server's AIAAS_PII_POLICY).")


class PolicyList(BaseModel):
    policies: list[PolicyOut]


@router.post("/privacy/analyze", response_model=AnalyzeResponse)
async def analyze(body: AnalyzeRequest, principal: PrincipalDep,
                  services: ServicesDep) -> dict[str, Any]:
    """Find PII in texts and show them redacted, to try a policy before turning it on. The
    values are never logged or stored."""
    settings = services.settings
    results = await asyncio.to_thread(services.privacy.analyze, principal, body.texts,
                                      body.entities, settings.max_inputs,
                                      settings.max_input_chars)
    return {"results": results}


@router.get("/tenants/{name}/privacy", response_model=PolicyList)
async def tenant_policies(name: str, principal: PrincipalDep,
                          services: ServicesDep) -> dict[str, Any]:
    """The tenant's policy (first; the server default when none is set), then per model and
    per key."""
    infos = await asyncio.to_thread(services.privacy.policies.of_tenant, principal, name)
    return {"policies": [info.as_dict() for info in infos]}


@router.put("/tenants/{name}/privacy", response_model=PolicyOut)
async def set_tenant_policy(name: str, body: PolicySet, principal: PrincipalDep,
                            services: ServicesDep) -> dict[str, Any]:
    """Set the tenant's policy, or (``model``) that of its calls to one model (admin)."""
    info = await asyncio.to_thread(services.privacy.policies.set, principal, mode=body.mode,
                                   entities=body.entities, tenant=name, model=body.model)
    return info.as_dict()


@router.put("/keys/{key_id}/privacy", response_model=PolicyOut)
async def set_key_policy(key_id: str, body: PolicySet, principal: PrincipalDep,
                         services: ServicesDep) -> dict[str, Any]:
    """Set one key's policy (admin); it overrides its tenant's and model's."""
    info = await asyncio.to_thread(services.privacy.policies.set, principal, mode=body.mode,
                                   entities=body.entities, key_id=key_id, model=body.model)
    return info.as_dict()


@router.delete("/tenants/{name}/privacy", status_code=204)
async def clear_tenant_policy(
        name: str, principal: PrincipalDep, services: ServicesDep,
        model: Annotated[str | None, Query(description="Only this model's policy")] = None,
) -> Response:
    """Remove the tenant's own policy (or one model's) (admin)."""
    await asyncio.to_thread(services.privacy.policies.set, principal, mode=None, tenant=name,
                            model=model)
    return Response(status_code=204)
