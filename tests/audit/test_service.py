"""``AuditLog`` on SQLite and PostgreSQL: what a change records (actor, target, changed fields,
request id and client; never a secret), that a record commits with its change or not at all,
who reads which records, the filters and paging, that appends from many threads and several
engines (processes) form one chain, and that ``verify`` names the first broken record after
an edit, a removal or a rewrite."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from aiaas.audit import AuditLog
from aiaas.audit.chain import digest
from aiaas.auth.principal import Principal, Scope
from aiaas.builtin import DIAGNOSIS, ensure_builtins
from aiaas.db.audit_tables import GENESIS
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.errors import Forbidden, Invalid, NotFound
from aiaas.logs import client_address, request_id
from aiaas.services import Services

SYSTEM = Principal.system()


def reader(tenant: str, *scopes: Scope) -> Principal:
    return Principal(tenant, "0" * 16, frozenset(scopes or {Scope.AUDIT_READ}))


def tamper(services: Services, sql: str, **params: object) -> None:
    with services.db.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_changes_are_recorded_with_actor_fields_request_and_client(services: Services) -> None:
    rid, address = request_id.set("req-1"), client_address.set("10.1.2.3")
    try:
        created = services.keys.create(SYSTEM, name="ci", tenant="clinic")
        services.keys.revoke(SYSTEM, created.info.id)
        services.keys.revoke(SYSTEM, created.info.id)  # already revoked: no change, no record
        services.tenants.update(SYSTEM, "clinic", display_name="City clinic")
        services.tenants.update(SYSTEM, "clinic", display_name="City clinic")
    finally:
        request_id.reset(rid)
        client_address.reset(address)
    records = services.audit.list(SYSTEM).data
    assert [r.action for r in records] == ["tenant.update", "key.revoke", "key.create"]
    update, revoke, create = records
    assert (create.tenant, create.key_id, create.target_type, create.target_id,
            create.target_tenant) == ("default", "system", "key", created.info.id, "clinic")
    assert create.before is None and create.after is not None
    assert create.after["scopes"] == ["models:read", "models:write", "predict"]
    assert (create.request_id, create.client) == ("req-1", "10.1.2.3")
    assert revoke.before == {"revoked_at": None} and revoke.after["revoked_at"]
    assert (update.before, update.after) == ({"display_name": ""}, {"display_name": "City clinic"})
    dumped = json.dumps([r.after for r in records])
    assert created.secret not in dumped and "secret" not in dumped
    assert [r.id for r in reversed(records)] == [1, 2, 3]
    assert [r.prev_hash for r in reversed(records)] == [GENESIS, create.hash, revoke.hash]


def test_a_record_commits_with_its_change_or_not_at_all(services: Services) -> None:
    with pytest.raises(RuntimeError), services.db.session() as session:
        services.audit.record(SYSTEM, "tenant.create", "tenant", "ghost", session=session)
        raise RuntimeError("the change fails after its record was written")
    services.tenants.create(SYSTEM, name="real")
    assert [(r.id, r.target_id) for r in services.audit.list(SYSTEM).data] == [(1, "real")]
    assert services.audit.verify(SYSTEM).ok


def test_tenants_read_their_own_records_admins_all(services: Services) -> None:
    services.tenants.create(SYSTEM, name="clinic")
    services.tenants.create(SYSTEM, name="lab")
    clinic_admin = Principal("clinic", "1" * 16, frozenset({Scope.ADMIN}))
    services.tenants.limits.set(clinic_admin, tenant="lab", requests_per_minute=5)  # about lab
    services.tenants.update(clinic_admin, "clinic", display_name="c")  # by and about clinic

    seen = services.audit.list(reader("clinic")).data
    assert [(r.action, r.target_id) for r in seen] == [("tenant.update", "clinic"),
                                                        ("limit.set", "lab"),
                                                        ("tenant.create", "clinic")]
    lab = services.audit.list(reader("lab")).data
    assert [(r.action, r.key_id) for r in lab] == [("limit.set", "1" * 16),
                                                    ("tenant.create", "system")]
    assert services.audit.list(reader("lab"), tenant="lab").data == lab
    with pytest.raises(NotFound) as other:
        services.audit.list(reader("lab"), tenant="clinic")
    assert other.value.details == {"field": "tenant"}
    with pytest.raises(Forbidden, match="audit:read"):
        services.audit.list(reader("lab", Scope.MODELS_READ, Scope.PREDICT))
    with pytest.raises(Forbidden):
        services.audit.verify(reader("lab"))
    assert len(services.audit.list(SYSTEM).data) == 4
    assert [r.target_id for r in services.audit.list(SYSTEM, tenant="lab").data] == ["lab", "lab"]


def test_filters_and_paging(services: Services) -> None:
    for name in ("a", "b", "c", "d", "e"):
        services.tenants.create(SYSTEM, name=name)
    services.tenants.update(SYSTEM, "c", disabled=True)
    audit = services.audit
    first = audit.list(SYSTEM, action="tenant.create", limit=2)
    assert [r.target_id for r in first.data] == ["e", "d"] and first.next is not None
    second = audit.list(SYSTEM, action="tenant.create", limit=2, cursor=first.next)
    third = audit.list(SYSTEM, action="tenant.create", limit=2, cursor=second.next)
    assert [r.target_id for r in second.data + third.data] == ["c", "b", "a"]
    assert third.next is None
    assert [r.action for r in audit.list(SYSTEM, target_type="tenant", target_id="c").data] == [
        "tenant.update", "tenant.create"]
    assert audit.list(SYSTEM, key_id="f" * 16).data == []
    now = utcnow()
    assert len(audit.list(SYSTEM, since=now - timedelta(minutes=5)).data) == 6
    assert audit.list(SYSTEM, until=now - timedelta(minutes=5)).data == []
    assert len(audit.list(SYSTEM, since=(now - timedelta(minutes=5)).replace(tzinfo=None)).data) == 6

    bad = [({"action": "key.explode"}, "action"), ({"target_type": "planet"}, "target_type"),
           ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"cursor": "abc"}, "cursor"),
           ({"key_id": "x" * 33}, "key_id"), ({"since": now, "until": now}, "until")]
    for filters, field in bad:
        with pytest.raises(Invalid) as error:
            audit.list(SYSTEM, **filters)  # type: ignore[arg-type]
        assert error.value.field == field, filters


def test_appends_from_many_threads_and_engines_form_one_chain(services: Services) -> None:
    other = Database(services.db.url)  # another process's connections to the same database
    logs = [services.audit, AuditLog(other)]
    errors: list[BaseException] = []

    def append(log: AuditLog, worker: int) -> None:
        try:
            for n in range(10):
                log.record(SYSTEM, "tenant.update", "tenant", f"t{worker}-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(logs[i % 2], i)) for i in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.dispose()
    assert not errors
    result = services.audit.verify(SYSTEM)
    assert (result.ok, result.checked) == (True, 80)
    assert sorted(r.id for r in services.audit.list(SYSTEM, limit=1000).data) == list(range(1, 81))


def _five(services: Services) -> None:
    for name in ("a", "b", "c", "d", "e"):
        services.tenants.create(SYSTEM, name=name)
    assert services.audit.verify(SYSTEM).ok


def test_verify_names_an_edited_record(services: Services) -> None:
    _five(services)
    tamper(services, "UPDATE audit_log SET target_id = 'z' WHERE id = 3")
    result = services.audit.verify(SYSTEM)
    assert (result.ok, result.first_broken_id, result.checked) == (False, 3, 2)
    assert "edited" in (result.reason or "")


def test_verify_names_the_record_after_one_rewritten_with_a_fresh_hash(
        services: Services) -> None:
    _five(services)
    second = services.audit.list(SYSTEM, target_id="b").data[0]
    forged = {**dataclasses.asdict(second), "target_id": "forged"}
    tamper(services, "UPDATE audit_log SET target_id = 'forged', hash = :h WHERE id = 2",
           h=digest(forged))
    result = services.audit.verify(SYSTEM)
    assert (result.first_broken_id, result.checked) == (3, 2)
    assert "prev_hash" in (result.reason or "")


def test_verify_names_removed_records(services: Services) -> None:
    _five(services)
    tamper(services, "DELETE FROM audit_log WHERE id = 3")
    result = services.audit.verify(SYSTEM)
    assert (result.first_broken_id, result.reason) == (3, "record 3 is missing (the next is 4)")
    tamper(services, "DELETE FROM audit_log WHERE id >= 3")
    result = services.audit.verify(SYSTEM)
    assert result.first_broken_id == 3 and "missing" in (result.reason or "")


def test_verify_sees_a_head_that_does_not_match(services: Services) -> None:
    _five(services)
    tamper(services, "UPDATE audit_head SET last_hash = :h", h="0" * 64)
    result = services.audit.verify(SYSTEM)
    assert (result.ok, result.first_broken_id) == (False, 5)


def test_lowering_a_tenant_limit_audits_each_key_and_model_limit_it_lowers(
        services: Services) -> None:
    limits = services.tenants.limits
    services.tenants.create(SYSTEM, name="clinic")
    ensure_builtins(services.registry, only={DIAGNOSIS})
    key = services.keys.create(SYSTEM, name="k", tenant="clinic").info.id
    limits.set(SYSTEM, tenant="clinic", requests_per_minute=100, tokens_per_minute=1000)
    limits.set(SYSTEM, key_id=key, requests_per_minute=90, tokens_per_minute=500)
    limits.set(SYSTEM, tenant="clinic", model=DIAGNOSIS, requests_per_minute=20)
    limits.set(SYSTEM, tenant="clinic", requests_per_minute=60, tokens_per_minute=1000)

    records = services.audit.list(SYSTEM, tenant="clinic").data
    assert [(r.action, r.target_id) for r in records[:2]] == [("limit.cap", f"key:{key}"),
                                                              ("limit.set", "clinic")]
    cap = records[0]
    assert (cap.before, cap.after) == ({"requests_per_minute": 90}, {"requests_per_minute": 60})
    assert cap.key_id == SYSTEM.key_id and cap.target_tenant == "clinic"
    assert sum(r.action == "limit.cap" for r in records) == 1  # the model's 20 stayed under 60
    assert services.audit.verify(SYSTEM).ok
