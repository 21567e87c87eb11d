"""``aiaas audit list`` and ``aiaas audit verify``: through a real server with the SDK, and
offline on a data dir, where keys made by the CLI are recorded as the system from ``cli`` and
an edited record makes ``verify`` exit 1 naming it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer


def offline(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiaas", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=120)


def test_verify_offline_names_an_edited_record(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert offline(data_dir, "audit", "verify").returncode == 1  # no database yet: nothing made
    created = offline(data_dir, "keys", "create", "--name", "ci", "--tenant", "lab", "--json")
    assert created.returncode == 0, created.stderr
    key_id = json.loads(created.stdout)["id"]
    assert offline(data_dir, "keys", "revoke", key_id).returncode == 0
    intact = offline(data_dir, "audit", "verify", "--json")
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout) | {"head_hash": None} == {
        "ok": True, "checked": 2, "first_broken_id": None, "reason": None, "head_hash": None}

    engine = create_engine(f"sqlite:///{data_dir / 'aiaas.db'}")
    try:
        with engine.begin() as connection:
            rows = connection.execute(text(
                "SELECT id, key_id, client, target_tenant, action FROM audit_log ORDER BY id")).all()
            assert [tuple(row) for row in rows] == [(1, "system", "cli", "lab", "key.create"),
                                                    (2, "system", "cli", "lab", "key.revoke")]
            connection.execute(text("UPDATE audit_log SET after = '{\"revoked_at\": null}' "
                                    "WHERE id = 2"))
    finally:
        engine.dispose()
    broken = offline(data_dir, "audit", "verify")
    assert broken.returncode == 1
    assert "broken at record 2 (its contents do not match its hash" in broken.stderr
    assert "1 records before it are intact" in broken.stderr


def test_list_through_the_server(live_server: LiveServer, aiaas: RunCli) -> None:
    admin = live_server.admin_key
    names = [f"cli-audit-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:
        assert aiaas("tenants", "create", name, key=admin).returncode == 0
    listed = aiaas("audit", "list", "--action", "tenant.create", "--limit", "2", "--json",
                   key=admin)
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert [r["target_id"] for r in page["data"]] == names[::-1][:2] and page["next"]
    table = aiaas("audit", "list", "--target-id", names[0], key=admin)
    assert table.returncode == 0 and "tenant.create" in table.stdout and names[0] in table.stdout
    assert "more: --cursor" in aiaas("audit", "list", "--limit", "1", key=admin).stdout
    every = aiaas("audit", "list", "--all", "--limit", "1", "--action", "tenant.create",
                  "--json", key=admin)
    assert every.returncode == 0 and json.loads(every.stdout)["next"] is None
    assert {r["target_id"] for r in json.loads(every.stdout)["data"]} >= set(names)

    bad = aiaas("audit", "list", "--action", "tenant.explode", key=admin)
    assert bad.returncode == 1 and "action" in bad.stderr
    refused = aiaas("audit", "list")  # the module's key lacks audit:read
    assert refused.returncode == 1 and "audit:read" in refused.stderr
    checked = aiaas("audit", "verify", "--server", "--json", key=admin)
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
