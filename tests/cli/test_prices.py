"""``aiaas prices`` and ``aiaas usage --csv`` against a real server."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer

EMBEDDER = "all-minilm-l6-v2"


def test_prices_set_list_and_usage_costs(live_server: LiveServer, aiaas: RunCli) -> None:
    admin = live_server.admin_key
    created = aiaas("prices", "set", EMBEDDER, "--per-item", "0.25", "--input-per-1k", "0",
                    "--json", key=admin)
    assert created.returncode == 0, created.stderr
    price = json.loads(created.stdout)
    assert (price["model"], price["tenant"], price["per_item"]) == (EMBEDDER, "builtin", "0.25")
    listed = aiaas("prices", "list", "--model", EMBEDDER)  # any key reads them
    assert listed.returncode == 0 and "0.25" in listed.stdout and EMBEDDER in listed.stdout
    refused = aiaas("prices", "set", EMBEDDER, "--per-item", "-1", key=admin)
    assert refused.returncode == 1 and "per_item" in refused.stderr
    assert "forbidden" in aiaas("prices", "set", EMBEDDER, "--per-item", "1").stderr

    assert aiaas("embed", "one", "two").returncode == 0
    exported = aiaas("usage", "--csv", "--model", EMBEDDER)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sum(Decimal(row["cost"]) for row in rows) >= Decimal("0.5")
    table = aiaas("usage", "--model", EMBEDDER, "--limit", "1")
    assert table.returncode == 0 and "cost" in table.stdout and "0.5" in table.stdout
