"""``aiaas tenants`` and ``aiaas limits`` against a real server."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer


def test_tenants_create_list_show_update_disable_enable(live_server: LiveServer,
                                                        aiaas: RunCli) -> None:
    admin = live_server.admin_key
    name = f"cli-t-{uuid.uuid4().hex[:6]}"
    created = aiaas("tenants", "create", name, "--display-name", "Cardiology", "--json", key=admin)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["display_name"] == "Cardiology"
    listed = aiaas("tenants", "list", key=admin)
    assert listed.returncode == 0 and name in listed.stdout
    renamed = aiaas("tenants", "update", name, "--display-name", "Heart", key=admin)
    assert renamed.returncode == 0 and "Heart" in renamed.stdout
    disabled = aiaas("tenants", "disable", name, "--json", key=admin)
    assert json.loads(disabled.stdout)["disabled"] is True
    assert "disabled" in aiaas("tenants", "show", name, key=admin).stdout
    assert json.loads(aiaas("tenants", "enable", name, "--json", key=admin).stdout)["disabled"] is False
    refused = aiaas("tenants", "create", "Not Valid", key=admin)
    assert refused.returncode == 1 and "invalid tenant" in refused.stderr
    assert "forbidden" in aiaas("tenants", "create", f"{name}-x").stderr  # not an admin key


def test_limits_set_show_refuse_and_clear(live_server: LiveServer, aiaas: RunCli) -> None:
    admin = live_server.admin_key
    name = f"cli-l-{uuid.uuid4().hex[:6]}"
    assert aiaas("tenants", "create", name, key=admin).returncode == 0
    done = aiaas("limits", "set", "--tenant", name, "--rpm", "30", "--tpm", "5000", "--json",
                 key=admin)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["requests_per_minute"] == 30
    shown = aiaas("limits", "show", "--tenant", name, key=admin)
    assert shown.returncode == 0 and "30" in shown.stdout and "5,000" in shown.stdout
    negative = aiaas("limits", "set", "--tenant", name, "--rpm", "0", key=admin)
    assert negative.returncode != 0 and "rpm" in (negative.stderr + negative.stdout)
    neither = aiaas("limits", "show", key=admin)
    assert neither.returncode != 0 and "--tenant" in neither.stderr
    cleared = aiaas("limits", "clear", "--tenant", name, key=admin)
    assert cleared.returncode == 0 and "cleared" in cleared.stdout
    after = json.loads(aiaas("limits", "show", "--tenant", name, "--json", key=admin).stdout)
    assert all(item["requests_per_minute"] is None for item in after)
