"""``aiaas budgets`` against a real server: set, list, show, delete; bad input named."""

from __future__ import annotations

import json

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer


def test_budgets_set_list_show_delete(live_server: LiveServer, aiaas: RunCli) -> None:
    admin, own = live_server.admin_key, live_server.create_key("cli-budgets")
    made = aiaas("budgets", "set", "--tenant", "cli-budgets", "--period", "month", "--amount",
                 "12.5", "--tokens", "100000", "--json", key=admin)
    assert made.returncode == 0, made.stderr
    budget = json.loads(made.stdout)
    assert (budget["tenant"], budget["period"], budget["amount"]) == ("cli-budgets", "month",
                                                                      "12.5")
    listed = aiaas("budgets", "list", "--json", key=own)  # the tenant's own key reads it
    assert [b["id"] for b in json.loads(listed.stdout)] == [budget["id"]]
    assert json.loads(aiaas("budgets", "list", "--json").stdout) == []  # another tenant's key
    shown = aiaas("budgets", "show", budget["id"], key=own)
    assert shown.returncode == 0 and "remaining this month" in shown.stdout
    bad = aiaas("budgets", "set", "--tenant", "cli-budgets", "--period", "week", "--amount", "1",
                key=admin)
    assert bad.returncode == 1 and "period" in bad.stderr
    assert aiaas("budgets", "delete", budget["id"], key=admin).returncode == 0
    gone = aiaas("budgets", "show", budget["id"], key=own)
    assert gone.returncode == 1 and "not_found" in gone.stderr
