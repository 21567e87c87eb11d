"""``AuditLog``: append a record for every change, list them for whoever may read them, and
verify the hash chain.

Appending: the service that makes a change calls ``record`` with the caller's ``Principal``,
the action, the target and the changed fields before and after; the request id and client
address come from ``aiaas.logs``' context. Given the change's own ``session``, the record
commits with the change or not at all; without one it is appended in a transaction of its own
(after the change). Either way the first statement takes the head row's lock (an UPDATE: a
row lock on PostgreSQL, the write lock on SQLite), so appends from any number of processes
form one line; it comes after the change's own writes, so a transaction holding it waits for
nothing else (no deadlock).

Reading needs ``audit:read``: an admin key reads every tenant's records, any other key those
of its own tenant (made by one of its keys or about one of its objects); another tenant is a
404. ``verify`` (admin) re-hashes the whole log.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from aiaas.audit import chain
from aiaas.audit.records import ACTIONS, TARGET_TYPES, AuditPage, AuditRecord, Verification
from aiaas.auth.principal import Principal, Scope
from aiaas.db.audit_tables import GENESIS, HEAD_ID, AuditHead, AuditRow
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.errors import Invalid, NotFound
from aiaas.logs import client_address, request_id

MAX_LIMIT = 1000
BATCH = 1000
"""Records read at once by ``verify``."""


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields whose value differs, as (before, after): what an update record keeps."""
    names = [name for name in {**before, **after}
             if chain.plain(before.get(name)) != chain.plain(after.get(name))]
    return ({name: before.get(name) for name in names}, {name: after.get(name) for name in names})


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- appending -----------------------------------------------------------------------------

    def record(self, principal: Principal, action: str, target_type: str, target_id: str,
               before: dict[str, Any] | None = None, after: dict[str, Any] | None = None, *,
               target_tenant: str | None = None, session: Session | None = None) -> int:
        """Append one record of ``principal`` doing ``action`` to ``target_type``/``target_id``
        (of ``target_tenant``, default the principal's own); returns its id. ``session``: the
        change's own, to commit with it (call this after the change's writes)."""
        if action not in ACTIONS or target_type not in TARGET_TYPES:
            raise ValueError(f"unknown audit action or target: {action!r} {target_type!r}")
        values = {
            "created_at": utcnow(), "tenant": principal.tenant, "key_id": principal.key_id,
            "action": action, "target_type": target_type, "target_id": str(target_id)[:300],
            "target_tenant": principal.tenant if target_tenant is None else target_tenant,
            "before": chain.plain(before), "after": chain.plain(after),
            "request_id": request_id.get(), "client": client_address.get(),
        }
        if session is not None:
            return self._append(session, values)
        with self.db.session() as own:
            return self._append(own, values)

    @staticmethod
    def _append(session: Session, values: dict[str, Any]) -> int:
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID)
                        .values(last_id=AuditHead.last_id))  # the lock, before the read
        head = session.execute(select(AuditHead.last_id, AuditHead.last_hash)
                               .where(AuditHead.id == HEAD_ID)).one_or_none()
        if head is None:  # a database the migration did not seed (never in practice)
            session.add(AuditHead(id=HEAD_ID, last_id=0, last_hash=GENESIS))
            session.flush()
            last_id, last_hash = 0, GENESIS
        else:
            last_id, last_hash = head
        values = {**values, "id": last_id + 1, "prev_hash": last_hash}
        values["hash"] = chain.digest(values)
        session.add(AuditRow(**values))
        session.execute(update(AuditHead).where(AuditHead.id == HEAD_ID)
                        .values(last_id=values["id"], last_hash=values["hash"]))
        return int(values["id"])

    # -- reading -------------------------------------------------------------------------------

    def list(self, principal: Principal, *, action: str | None = None,
             target_type: str | None = None, target_id: str | None = None,
             key_id: str | None = None, tenant: str | None = None,
             since: datetime | None = None, until: datetime | None = None, limit: int = 100,
             cursor: str | None = None) -> AuditPage:
        """Records newest first, filtered; ``cursor`` is a page's ``next``. ``tenant``: records
        made by or about that tenant (admins; another key may only name its own). Times
        without a zone are UTC. ``Invalid`` naming the filter that is wrong."""
        principal.require(Scope.AUDIT_READ)
        admin = principal.allows(Scope.ADMIN)
        if tenant is not None and not admin and tenant != principal.tenant:
            raise NotFound(f"tenant {tenant!r} not found", details={"field": "tenant"})
        view = tenant if admin else principal.tenant
        query = select(AuditRow)
        if view is not None:
            query = query.where(or_(AuditRow.tenant == view, AuditRow.target_tenant == view))
        for name, value, known in (("action", action, ACTIONS),
                                   ("target_type", target_type, TARGET_TYPES)):
            if value is not None:
                if value not in known:
                    raise Invalid.at(name, f"unknown {name} {value!r}; known: "
                                           f"{', '.join(sorted(known))}")
                query = query.where(getattr(AuditRow, name) == value)
        for name, value, most in (("target_id", target_id, 300), ("key_id", key_id, 32),
                                  ("tenant", tenant, 64)):
            if value is not None and (not isinstance(value, str) or not value or len(value) > most):
                raise Invalid.at(name, f"must be 1-{most} characters")
        if target_id is not None:
            query = query.where(AuditRow.target_id == target_id)
        if key_id is not None:
            query = query.where(AuditRow.key_id == key_id)
        since, until = _utc(since), _utc(until)
        if since is not None and until is not None and until <= since:
            raise Invalid.at("until", "must be after since")
        if since is not None:
            query = query.where(AuditRow.created_at >= since)
        if until is not None:
            query = query.where(AuditRow.created_at < until)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise Invalid.at("limit", f"must be from 1 to {MAX_LIMIT}")
        if cursor is not None:
            query = query.where(AuditRow.id < _cursor(cursor))
        with self.db.session() as session:
            rows = list(session.scalars(query.order_by(AuditRow.id.desc()).limit(limit + 1)))
        records = [AuditRecord.of(row) for row in rows[:limit]]
        more = len(rows) > limit
        return AuditPage(data=records, next=str(records[-1].id) if more else None)

    def verify(self, principal: Principal) -> Verification:
        """Re-hash every record up to the head (admin): the first record whose contents, link
        to the one before, or place in the numbering is wrong, and why."""
        principal.require(Scope.ADMIN)
        with self.db.session() as session:
            head = session.get(AuditHead, HEAD_ID)
            if head is None:
                return Verification(ok=False, checked=0, reason="the audit head row is missing")
            last_id, head_hash = head.last_id, head.last_hash
            prev, expected = GENESIS, 1
            while expected <= last_id:
                rows = session.scalars(select(AuditRow).where(
                    AuditRow.id >= expected, AuditRow.id <= last_id)
                    .order_by(AuditRow.id).limit(BATCH)).all()
                if not rows:
                    return _broken(expected, expected - 1, f"records {expected} to {last_id} "
                                   f"are missing (the head names {last_id})")
                for row in rows:
                    problem = _problem(row, expected, prev)
                    if problem is not None:
                        return _broken(expected if row.id != expected else row.id,
                                       expected - 1, problem)
                    prev, expected = row.hash, expected + 1
                session.expunge_all()
            if prev != head_hash:
                return _broken(last_id, last_id, f"record {last_id}'s hash is not the one the "
                               "head keeps: it or the head was rewritten")
        return Verification(ok=True, checked=last_id, head_hash=head_hash)


def _problem(row: AuditRow, expected: int, prev: str) -> str | None:
    if row.id != expected:
        return f"record {expected} is missing (the next is {row.id})"
    if row.prev_hash != prev:
        return (f"its prev_hash is not record {row.id - 1}'s hash: one of them was rewritten"
                if row.id > 1 else "its prev_hash is not the start of the chain")
    fields = {name: getattr(row, name) for name in chain.HASHED}
    if chain.digest(fields) != row.hash:
        return "its contents do not match its hash: it was edited"
    return None


def _broken(record_id: int, checked: int, reason: str) -> Verification:
    return Verification(ok=False, checked=checked, first_broken_id=record_id,
                        reason=reason)


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _cursor(cursor: str) -> int:
    if not isinstance(cursor, str) or not cursor.isascii() or not cursor.isdigit() or len(cursor) > 12:
        raise Invalid.at("cursor", "is not a cursor this list returned (use its 'next')")
    return int(cursor)
