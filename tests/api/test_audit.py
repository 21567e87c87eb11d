"""The audit log on a real server over real HTTP: every audited action made through the API
appears exactly once with the acting key, its tenant, the client address and the request id,
and no secret; a tenant's key reads only its tenant's records (with ``audit:read``); bad
filters are a 422 naming the field; and one record edited in the database makes both
``aiaas audit verify`` (the real CLI, offline on the data dir) and ``GET /api/v1/audit/verify``
name it.

The server is the shared session server: the test works in a tenant of its own and counts
only the records of the admin key it creates there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.conftest import LiveServer

DIAGNOSIS = "breast-cancer-diagnosis"
CSV = "x1,x2,label\n" + "".join(f"{i},{i % 3},{'a' if i % 2 else 'b'}\n" for i in range(40))


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def key(client: httpx.Client, tenant: str, **body: Any) -> tuple[str, str]:
    created = ok(client.post("/api/v1/keys", json={"name": "audit", "tenant": tenant, **body}), 201)
    return created["id"], created["secret"]


@dataclass
class Story:
    """What ``every_action`` did: in ``tenant``, as the admin key ``actor``, each request's
    (action, target id) -> the request id it was sent with; and the secrets it made."""

    tenant: str
    actor: str
    secret: str
    sent: dict[tuple[str, str], str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    reader: str = ""
    """A key of the tenant with audit:read (and models:read)."""


def every_action(server: LiveServer, archive: bytes) -> Story:
    """Each audited action once, by a new admin key of a new tenant."""
    tenant = f"audit-{uuid.uuid4().hex[:8]}"
    with server.client() as root:
        actor, secret = key(root, tenant, admin=True)
    story = Story(tenant, actor, secret)
    sent = story.sent

    def call(action: str, target: str | None, method: str, path: str, status: int = 200,
             **kwargs: Any) -> Any:
        rid = f"rid-{uuid.uuid4().hex[:12]}"
        body = ok(admin.request(method, path, headers={"X-Request-ID": rid}, **kwargs), status)
        sent[(action, target or body["id"])] = rid
        return body

    with server.client(secret) as admin:
        reader = call("key.create", None, "POST", "/api/v1/keys", 201, json={
            "name": "reader", "tenant": tenant, "scopes": ["audit:read", "models:read"]})
        doomed = call("key.create", None, "POST", "/api/v1/keys", 201, json={"name": "doomed"})
        call("key.revoke", doomed["id"], "DELETE", f"/api/v1/keys/{doomed['id']}")
        other = f"{tenant}-b"
        call("tenant.create", other, "POST", "/api/v1/tenants", 201, json={"name": other})
        call("tenant.update", other, "PATCH", f"/api/v1/tenants/{other}", json={"disabled": True})
        call("limit.set", other, "PUT", f"/api/v1/tenants/{other}/limits",
             json={"requests_per_minute": 1000})
        call("limit.clear", other, "DELETE", f"/api/v1/tenants/{other}/limits", 204)
        for version in (1, 2):
            call("model.register", f"iris/{version}", "POST", "/api/v1/models/iris/versions", 201,
                 content=archive)
        call("alias.move", "iris:staging", "PUT", "/api/v1/models/iris/aliases/staging",
             json={"version": 1})
        call("serving.update", "iris/1", "PATCH", "/api/v1/models/iris/versions/1",
             json={"max_batch_size": 4})
        price = call("price.set", None, "POST", "/api/v1/prices", 201,
                     json={"model": "iris", "per_item": "0.001"})
        sent[("price.set", str(price["id"]))] = sent.pop(("price.set", price["id"]))
        budget = call("budget.set", None, "PUT", "/api/v1/budgets",
                      json={"period": "day", "amount": "1000"})
        call("budget.delete", budget["id"], "DELETE", f"/api/v1/budgets/{budget['id']}", 204)
        call("version.delete", "iris/2", "DELETE", "/api/v1/models/iris/versions/2", 204)
        call("model.delete", "iris", "DELETE", "/api/v1/models/iris", 204)
        dataset = call("dataset.upload", None, "POST", "/api/v1/datasets", 201,
                       files={"file": ("table.csv", CSV.encode(), "text/csv")})
        call("dataset.delete", dataset["id"], "DELETE", f"/api/v1/datasets/{dataset['id']}", 204)
        job = call("job.create", None, "POST", "/api/v1/jobs", 202, json={
            "task": "tabular-classification", "dataset": "builtin:iris", "name": "never"})
        call("job.cancel", job["id"], "POST", f"/api/v1/jobs/{job['id']}/cancel")
        call("evaluation.run", None, "POST", "/api/v1/evaluations", 201,
             json={"model": DIAGNOSIS, "dataset": "builtin:breast_cancer"})
        ok(admin.get("/api/v1/models"))  # reads are not audited
    story.reader = reader["secret"]
    story.secrets = [secret, reader["secret"], doomed["secret"]]
    return story


def test_every_change_is_recorded_once_by_its_actor_and_verify_names_an_edit(
        live_server: LiveServer, tiny_model_archive: bytes) -> None:
    story = every_action(live_server, tiny_model_archive)
    tenant, actor, sent = story.tenant, story.actor, story.sent
    with live_server.client(story.secret) as admin:
        records = ok(admin.get("/api/v1/audit", params={"key_id": actor, "limit": 1000}))["data"]
    with live_server.client() as root:  # the actor's own key, made by the server's admin key
        made = ok(root.get("/api/v1/audit", params={"target_id": actor}))["data"]
    assert [(r["action"], r["target_tenant"]) for r in made] == [("key.create", tenant)]
    assert made[0]["key_id"] != actor
    assert sorted((r["action"], r["target_id"]) for r in records) == sorted(sent), records
    for record in records:
        assert (record["tenant"], record["key_id"], record["client"]) == (tenant, actor,
                                                                          "127.0.0.1")
        assert record["request_id"] == sent[(record["action"], record["target_id"])]
    dumped = json.dumps(records)
    assert not any(secret in dumped for secret in story.secrets)
    assert '"secret' not in dumped
    by_action = {r["action"]: r for r in records}
    assert by_action["tenant.update"]["before"] == {"disabled": False}
    assert by_action["tenant.update"]["after"] == {"disabled": True}
    assert by_action["serving.update"]["after"] == {"max_batch_size": 4}
    assert by_action["alias.move"]["before"] == {"version": None}

    # A key of the tenant with audit:read sees its tenant's records and nobody else's.
    with live_server.client(story.reader) as reader:
        seen = ok(reader.get("/api/v1/audit", params={"limit": 1000}))["data"]
        assert {r["id"] for r in records} <= {r["id"] for r in seen}
        assert all(tenant in (r["tenant"], r["target_tenant"]) for r in seen)
        assert reader.get("/api/v1/audit", params={"tenant": "default"}).status_code == 404
        assert reader.get("/api/v1/audit/verify").status_code == 403
        for params, field in (({"action": "key.explode"}, "action"), ({"limit": 0}, "limit"),
                              ({"cursor": "nope"}, "cursor"), ({"since": "yesterday"}, "since")):
            response = reader.get("/api/v1/audit", params=params)
            assert response.status_code == 422, response.text
            assert field in response.json()["error"]["message"], (params, response.text)
        assert reader.get("/api/v1/audit", params={"tenant": tenant}).status_code == 200
    plain = key_without_audit_scope(live_server, tenant)
    with live_server.client(plain) as other:
        response = other.get("/api/v1/audit")
        assert response.status_code == 403 and "audit:read" in response.text

    edited = by_action["tenant.update"]["id"]
    _tamper_and_verify(live_server, story.secret, edited)


def key_without_audit_scope(server: LiveServer, tenant: str) -> str:
    with server.client() as root:
        return key(root, tenant)[1]


def _tamper_and_verify(server: LiveServer, admin_secret: str, record_id: int) -> None:
    """Edit one record's ``after`` straight in the database, see both verifies name it, then put
    the stored text back exactly (the chain is whole again: the server is shared)."""
    engine = create_engine(f"sqlite:///{server.data_dir / 'aiaas.db'}")
    try:
        with engine.begin() as connection:
            original = connection.execute(text("SELECT after FROM audit_log WHERE id = :id"),
                                          {"id": record_id}).scalar_one()
            connection.execute(text("UPDATE audit_log SET after = :after WHERE id = :id"),
                               {"after": json.dumps({"disabled": False}), "id": record_id})
        try:
            cli = subprocess.run([sys.executable, "-m", "aiaas", "audit", "verify"],
                                 env=server.env, capture_output=True, text=True, timeout=120)
            assert cli.returncode == 1, cli.stdout + cli.stderr
            assert f"broken at record {record_id} " in cli.stderr, cli.stderr
            with server.client(admin_secret) as admin:
                found = ok(admin.get("/api/v1/audit/verify"))
            assert (found["ok"], found["first_broken_id"]) == (False, record_id), found
        finally:
            with engine.begin() as connection:
                connection.execute(text("UPDATE audit_log SET after = :after WHERE id = :id"),
                                   {"after": original, "id": record_id})
    finally:
        engine.dispose()
    cli = subprocess.run([sys.executable, "-m", "aiaas", "audit", "verify", "--json"],
                         env=server.env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert json.loads(cli.stdout)["ok"] is True
