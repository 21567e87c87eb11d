"""The SDK's response models against the server's ``/openapi.json``.

The SDK (``aiaas.client._models``) cannot import the server, so its models are declared a second
time; this test is what keeps the two from drifting. Each SDK model is paired with the schema it
parses (``SCHEMAS``), and every field is compared: the names on both sides, whether the SDK may
rely on a field (a field the SDK requires must be one the server always sends) and the JSON types
(every type the server may send must be one the SDK field accepts). A new SDK model must be put
in ``SCHEMAS`` or in ``NOT_IN_OPENAPI``.
"""

from __future__ import annotations

import inspect
import types
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from aiaas.client import _audit as audit
from aiaas.client import _billing as billing
from aiaas.client import _models as sdk
from aiaas.client import _privacy as privacy
from tests.conftest import Api

SCHEMAS: dict[type[BaseModel], str] = {
    sdk.Whoami: "WhoAmI",
    sdk.ModelVersion: "VersionInfo",
    sdk.Model: "ModelInfo",
    sdk.Prediction: "PredictResponse",
    sdk.ApiKey: "KeyInfo",
    sdk.CreatedKey: "KeyCreated",
    sdk.UsageUnits: "Units",
    sdk.UsageRecord: "UsageRow",
    sdk.UsageTotals: "UsageTotals",
    sdk.UsageReport: "UsageReport",
    sdk.CostLine: "CostLine",
    billing.Price: "PriceInfo",
    billing.Budget: "BudgetStatus",
    billing.BudgetUse: "Use",
    billing.BudgetRemaining: "Remaining",
    sdk.Job: "JobInfo",
    sdk.Dataset: "DatasetRecord",
    sdk.Evaluation: "EvaluationInfo",
    audit.AuditRecord: "AuditRecord",
    audit.AuditPage: "AuditPage",
    audit.AuditVerification: "Verification",
    privacy.PiiEntity: "EntityOut",
    privacy.PiiAnalysis: "AnalyzedText",
    privacy.PrivacyPolicy: "PolicyOut",
}
"""SDK model -> the component schema of ``/openapi.json`` that describes what it parses."""

NOT_IN_OPENAPI: dict[type[BaseModel], str] = {
    sdk.Health: "/healthz answers a bare object",
    sdk.PredictionUsage: "PredictResponse.usage is an open object",
    sdk.LabelScore: "an item of a classifier's outputs (PredictResponse.outputs is open)",
    sdk.Classification: "an item of a classifier's outputs (PredictResponse.outputs is open)",
    sdk.ChatUsage: "built by the SDK from a chat model's predict answer",
    sdk.ChatResult: "built by the SDK from a chat model's predict answer",
    sdk.Word: "part of a speech model's predict output",
    sdk.Segment: "part of a speech model's predict output",
    sdk.Transcription: "a speech model's predict output",
    sdk.JobEvent: "a server-sent event of /api/v1/jobs/{id}/events",
}

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
ACCEPTS: dict[Any, frozenset[str]] = {
    str: frozenset({"string"}), int: frozenset({"integer"}),
    float: frozenset({"number", "integer"}), bool: frozenset({"boolean"}),
    datetime: frozenset({"string"}), date: frozenset({"string"}),
    Decimal: frozenset({"string", "number"}), list: frozenset({"array"}), dict: frozenset({"object"}),
    type(None): frozenset({"null"}), Any: JSON_TYPES,
}
"""The JSON types a field of each Python type parses."""


@pytest.fixture
def database_url(tmp_path: Any) -> str:
    """SQLite only: the schema does not depend on the database."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


@pytest.fixture
async def components(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json", headers=api.auth())
    assert response.status_code == 200, response.text
    schemas: dict[str, Any] = response.json()["components"]["schemas"]
    return schemas


def _variants(annotation: Any) -> list[Any]:
    """The members of a union (``X | None`` -> [X, None]), or the annotation alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _accepts(annotation: Any) -> frozenset[str]:
    accepted: set[str] = set()
    for variant in _variants(annotation):
        base = get_origin(variant) or variant
        if inspect.isclass(base) and issubclass(base, BaseModel):
            accepted.add("object")
        else:
            accepted |= ACCEPTS[base]
    return frozenset(accepted)


def _resolve(prop: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The JSON types a property may hold, and the component names it refers to."""
    if "$ref" in prop:
        return {"object"}, {prop["$ref"].rsplit("/", 1)[-1]}
    if "anyOf" in prop:
        kinds: set[str] = set()
        refs: set[str] = set()
        for option in prop["anyOf"]:
            more_kinds, more_refs = _resolve(option)
            kinds |= more_kinds
            refs |= more_refs
        return kinds, refs
    if "type" not in prop:
        return set(JSON_TYPES), set()
    kind = prop["type"]
    return ({kind} if isinstance(kind, str) else set(kind)), set()


def _nested(annotation: Any) -> set[type[BaseModel]]:
    """The SDK models a field holds, directly or as list items or dict values."""
    found: set[type[BaseModel]] = set()
    for variant in _variants(annotation):
        if inspect.isclass(variant) and issubclass(variant, BaseModel):
            found.add(variant)
        for arg in get_args(variant):
            found |= _nested(arg)
    return found


def _item_refs(prop: dict[str, Any]) -> set[str]:
    """The component names a property refers to, directly or through its items."""
    refs = set()
    for option in [prop, *prop.get("anyOf", [])]:
        for part in (option, option.get("items", {}), option.get("additionalProperties", {})):
            if isinstance(part, dict) and "$ref" in part:
                refs.add(part["$ref"].rsplit("/", 1)[-1])
    return refs


def _field_drift(name: str, field: FieldInfo, prop: dict[str, Any], required: bool) -> list[str]:
    drift = []
    if field.is_required() and not required:
        drift.append(f"'{name}': the SDK requires it, the schema lets the server leave it out")
    sent, _ = _resolve(prop)
    refused = sent - _accepts(field.annotation)
    if refused:
        drift.append(f"'{name}': the server may send {sorted(refused)}, the SDK field "
                     f"({field.annotation}) does not take it")
    for model in _nested(field.annotation):
        expected = SCHEMAS.get(model)
        refs = _item_refs(prop)
        if expected is not None and refs and expected not in refs:
            drift.append(f"'{name}': the SDK holds {model.__name__} (schema {expected}), the "
                         f"schema refers to {sorted(refs)}")
    return drift


def drift_of(model: type[BaseModel], schema: dict[str, Any]) -> list[str]:
    """How ``model`` and ``schema`` disagree, one line per problem (empty when they agree)."""
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    fields = model.model_fields
    drift = [f"'{name}': in the schema, missing from the SDK model"
             for name in properties if name not in fields]
    drift += [f"'{name}': in the SDK model, missing from the schema"
              for name in fields if name not in properties]
    for name, field in fields.items():
        if name in properties:
            drift += _field_drift(name, field, properties[name], name in required)
    return drift


def test_every_sdk_model_is_paired_or_explained() -> None:
    results = {cls for _, cls in inspect.getmembers(sdk, inspect.isclass)
               if issubclass(cls, sdk._Result) and cls is not sdk._Result}
    unlisted = sorted(cls.__name__ for cls in results - SCHEMAS.keys() - NOT_IN_OPENAPI.keys())
    assert not unlisted, f"put these SDK models in SCHEMAS or NOT_IN_OPENAPI: {unlisted}"
    assert not SCHEMAS.keys() & NOT_IN_OPENAPI.keys()


async def test_sdk_models_match_openapi(components: dict[str, Any]) -> None:
    report = []
    for model, name in SCHEMAS.items():
        if name not in components:
            report.append(f"{model.__name__}: /openapi.json has no schema {name!r}")
            continue
        report += [f"{model.__name__} vs {name}: {line}"
                   for line in drift_of(model, components[name])]
    assert not report, "the SDK's models drift from /openapi.json:\n  " + "\n  ".join(report)


def test_the_check_sees_a_drift() -> None:
    """The comparison itself: a missing field, an unsent required one and a wrong type."""

    class Version(BaseModel):
        model: str
        version: float
        note: str

    schema = {"properties": {"model": {"type": "string"}, "version": {"type": "string"},
                             "serving": {"type": "object"}, "note": {"type": "string"}},
              "required": ["model", "version", "serving"]}
    assert drift_of(Version, schema) == [
        "'serving': in the schema, missing from the SDK model",
        "'version': the server may send ['string'], the SDK field (<class 'float'>) does not take it",
        "'note': the SDK requires it, the schema lets the server leave it out",
    ]
