"""The audit log in ``Client`` and ``AsyncClient``: the calls, their results and the two method
mixins. Reading needs a key with the ``audit:read`` scope (its own tenant's records) or an admin
key (every tenant's); verifying needs an admin key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

from pydantic import Field

from aiaas.client._calls import Call, _timestamp, one
from aiaas.client._models import _Result
from aiaas.client._sending import AsyncSender, SyncSender


class AuditRecord(_Result):
    """One change: the acting key and its tenant, the action on a target (of
    ``target_tenant``), the changed fields before and after, the request id and client address;
    ``hash`` covers all of it and ``prev_hash``, the record before's hash."""

    id: int
    created_at: datetime
    tenant: str
    key_id: str
    action: str
    target_type: str
    target_id: str
    target_tenant: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str | None = None
    client: str | None = None
    prev_hash: str
    hash: str


class AuditPage(_Result):
    """Records newest first; pass ``next`` as ``cursor`` for the following page (None: done)."""

    data: list[AuditRecord] = Field(default_factory=list)
    next: str | None = None


class AuditVerification(_Result):
    """``ok``, how many records were re-hashed, and the first broken record and why."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None


FILTERS = ("action", "target_type", "target_id", "key_id", "tenant")


def list_audit(*, limit: int, cursor: str | None, since: datetime | str | None,
               until: datetime | str | None, filters: dict[str, str | None]) -> Call[AuditPage]:
    params: dict[str, str | int | bool] = {"limit": limit}
    params |= {name: value for name, value in filters.items() if value is not None}
    if cursor is not None:
        params["cursor"] = cursor
    if since is not None:
        params["since"] = _timestamp(since)
    if until is not None:
        params["until"] = _timestamp(until)
    return Call("GET", "/api/v1/audit", one(AuditPage), params=params)


def verify_audit() -> Call[AuditVerification]:
    return Call("GET", "/api/v1/audit/verify", one(AuditVerification), timeout=600)


class AuditMethods(SyncSender):
    def list_audit(self, *, action: str | None = None, target_type: str | None = None,
                   target_id: str | None = None, key_id: str | None = None,
                   tenant: str | None = None, since: datetime | str | None = None,
                   until: datetime | str | None = None, limit: int = 100,
                   cursor: str | None = None) -> AuditPage:
        """One page of audit records, newest first, filtered (``tenant``: admins)."""
        filters = {"action": action, "target_type": target_type, "target_id": target_id,
                   "key_id": key_id, "tenant": tenant}
        return self._send(list_audit(limit=limit, cursor=cursor, since=since, until=until,
                                     filters=filters))

    def iter_audit(self, *, cursor: str | None = None, **filters: Any) -> Iterator[AuditRecord]:
        """Every matching record, newest first, page after page (``list_audit``'s filters),
        from ``cursor`` (a page's ``next``) on when given."""
        while True:
            page = self.list_audit(**filters, cursor=cursor)
            yield from page.data
            if page.next is None:
                return
            cursor = page.next

    def verify_audit(self) -> AuditVerification:
        """Admin only. Re-compute the server's hash chain."""
        return self._send(verify_audit())


class AsyncAuditMethods(AsyncSender):
    async def list_audit(self, *, action: str | None = None, target_type: str | None = None,
                         target_id: str | None = None, key_id: str | None = None,
                         tenant: str | None = None, since: datetime | str | None = None,
                         until: datetime | str | None = None, limit: int = 100,
                         cursor: str | None = None) -> AuditPage:
        filters = {"action": action, "target_type": target_type, "target_id": target_id,
                   "key_id": key_id, "tenant": tenant}
        return await self._send(list_audit(limit=limit, cursor=cursor, since=since, until=until,
                                           filters=filters))

    async def iter_audit(self, *, cursor: str | None = None,
                         **filters: Any) -> AsyncIterator[AuditRecord]:
        while True:
            page = await self.list_audit(**filters, cursor=cursor)
            for record in page.data:
                yield record
            if page.next is None:
                return
            cursor = page.next

    async def verify_audit(self) -> AuditVerification:
        return await self._send(verify_audit())
