"""The audit log page and the PII policy page.

Audit (``audit:read``; an admin key sees every tenant's records, others their own tenant's):
newest first, filtered by action, target and time, paged with the service's own cursor, each
record's changed fields shown before and after. "Verify chain" (admin) re-hashes the whole log
and says ok or names the first broken record.

Privacy (admin): the policies in force, from the installation's default to a key's own, set
and cleared with plain forms through ``PolicyService``. The "try it" box posts to the JSON API
(``POST /api/v1/privacy/analyze``, ``audit_privacy.js``) so it shows what a client would get.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.governance_pages import FORM_ERRORS, optional, problem, read_form
from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.audit import AuditPage, Verification
from aiaas.audit.records import ACTIONS, TARGET_TYPES, AuditRecord
from aiaas.auth.principal import Scope
from aiaas.auth.sessions import ConsoleSessionView
from aiaas.errors import Invalid, NotFound
from aiaas.privacy.entities import ENTITY_TYPES
from aiaas.privacy.policy import MODES

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
FILTERS = ("action", "target_type", "target", "tenant", "since")


def _since(value: str) -> datetime | None:
    """A date (``2026-01-31``) or date and time from the filter form; UTC without a zone."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid.at("since", f"must be a date (YYYY-MM-DD) or a date and time, got "
                                  f"{value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _size(value: str) -> int:
    if not value:
        return PAGE_SIZE
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 1000:
        raise Invalid.at("limit", f"must be a whole number from 1 to 1000, got {value!r}")
    return int(value)


def _shown(value: Any) -> str:
    """A recorded value as text: strings as they are, anything else as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def changes(record: AuditRecord) -> list[tuple[str, str | None, str | None]]:
    """(field, before, after) for every field named; a side the record does not have (before
    a creation, after a deletion) is None, so the page shows only the other."""
    before, after = record.before, record.after
    names = list(dict.fromkeys([*(before or {}), *(after or {})]))
    return [(name, None if before is None else _shown(before.get(name)),
             None if after is None else _shown(after.get(name))) for name in names]


async def _audit_page(request: Request, view: ConsoleSessionView,
                      verification: Verification | None = None) -> Response:
    query = request.query_params
    filters = {name: query.get(name, "").strip() for name in FILTERS}
    cursor = query.get("cursor", "").strip() or None
    error, status_code, found = None, 200, AuditPage(data=[], next=None)
    try:
        size = _size(query.get("limit", "").strip())
        found = await asyncio.to_thread(
            request.app.state.services.audit.list, view.principal,
            action=optional(filters["action"]), target_type=optional(filters["target_type"]),
            target_id=optional(filters["target"]), tenant=optional(filters["tenant"]),
            since=_since(filters["since"]), limit=size, cursor=cursor)
    except (Invalid, NotFound) as exc:
        shown = problem(exc)
        error, status_code, size = shown["error"], shown["status_code"], PAGE_SIZE
    kept = {name: value for name, value in filters.items() if value}
    if size != PAGE_SIZE:
        kept["limit"] = str(size)
    return page(request, view, "audit.html", status_code=status_code, filters=filters,
                records=[(r, changes(r)) for r in found.data], error=error,
                actions=sorted(ACTIONS), target_types=sorted(TARGET_TYPES),
                older=f"/audit?{urlencode({**kept, 'cursor': found.next})}" if found.next else None,
                newest=f"/audit?{urlencode(kept)}" if cursor else None,
                verification=verification)


@router.get("/audit")
async def audit_page(request: Request, view: SessionDep) -> Response:
    return await _audit_page(request, view)


@router.get("/audit/verify")
async def verify_audit(request: Request, view: SessionDep) -> Response:
    """Re-hash the chain (admin: the service refuses others) and show the log with the result."""
    verification = await asyncio.to_thread(request.app.state.services.audit.verify,
                                           view.principal)
    return await _audit_page(request, view, verification)


# -- PII policies -------------------------------------------------------------------------------

async def _privacy_page(request: Request, view: ConsoleSessionView, *, status_code: int = 200,
                        **extra: Any) -> Response:
    services, principal = request.app.state.services, view.principal
    principal.require(Scope.ADMIN)
    tenants = await asyncio.to_thread(services.tenants.list, principal)
    policies = []
    for tenant in tenants:
        infos = await asyncio.to_thread(services.privacy.policies.of_tenant, principal,
                                        tenant.name)
        policies += [info for info in infos if info.policy.source != "default"]
    keys = await asyncio.to_thread(services.keys.list, principal)
    models = await asyncio.to_thread(services.registry.list_models, principal)
    form = extra.pop("form", {}) or {"mode": "redact", "entities": []}
    return page(request, view, "privacy.html", status_code=status_code, policies=policies,
                default=services.privacy.policies.default, modes=MODES,
                entity_types=ENTITY_TYPES, tenants=[t.name for t in tenants],
                key_names={key.id: f"{key.name} ({key.tenant})" for key in keys},
                models=[m.name for m in models], form=form,
                saved=request.query_params.get("saved"), **extra)


@router.get("/privacy")
async def privacy_page(request: Request, view: SessionDep) -> Response:
    return await _privacy_page(request, view)


def _subject(form: dict[str, Any]) -> dict[str, str | None]:
    key_id = optional(form.get("key_id", ""))
    return {"tenant": optional(form.get("tenant", "")), "key_id": key_id,
            "model": optional(form.get("model", ""))}


@router.post("/privacy")
async def set_policy(request: Request, view: SessionDep) -> Response:
    """Set the policy of a tenant, of its calls to one model, or of one key; no entity ticked
    means every type."""
    form = await read_form(request, view, lists=("entities",))
    try:
        info = await asyncio.to_thread(
            request.app.state.services.privacy.policies.set, view.principal,
            mode=form.get("mode", ""), entities=form["entities"] or None, **_subject(form))
    except FORM_ERRORS as exc:
        return await _privacy_page(request, view, form=form, **problem(exc))
    return RedirectResponse(f"/privacy?{urlencode({'saved': info.tenant})}", status_code=303)


@router.post("/privacy/clear")
async def clear_policy(request: Request, view: SessionDep) -> Response:
    form = await read_form(request, view)
    await asyncio.to_thread(request.app.state.services.privacy.policies.set, view.principal,
                            mode=None, **_subject(form))
    return RedirectResponse("/privacy", status_code=303)
