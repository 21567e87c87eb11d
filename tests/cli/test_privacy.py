"""``aiaas privacy`` against a real server: analyze shows what is found and the redaction,
set/show manage policies (admin only), build reports an existing model."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer


def test_analyze_shows_entities_and_redaction(live_server: LiveServer, pii_model: Path,
                                              aiaas: RunCli) -> None:
    shown = aiaas("privacy", "analyze", "Call Ann Lee at ann.lee@example.org", "nothing here")
    assert shown.returncode == 0, shown.stderr
    assert "PERSON" in shown.stdout and "EMAIL_ADDRESS" in shown.stdout
    assert "Call <PERSON_1> at <EMAIL_ADDRESS_1>" in shown.stdout
    assert "no PII found" in shown.stdout
    as_json = aiaas("privacy", "analyze", "Ann Lee", "--entity", "EMAIL_ADDRESS", "--json")
    assert json.loads(as_json.stdout) == [{"entities": [], "redacted": "Ann Lee"}]


def test_policies_set_show_and_unset(live_server: LiveServer, aiaas: RunCli) -> None:
    admin = live_server.admin_key
    name = f"cli-p-{uuid.uuid4().hex[:6]}"
    assert aiaas("tenants", "create", name, key=admin).returncode == 0
    done = aiaas("privacy", "set", "block", "--tenant", name, "--entity", "US_SSN", "--json",
                 key=admin)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entities"] == ["US_SSN"]
    shown = aiaas("privacy", "show", name, key=admin)
    assert "block" in shown.stdout and "US_SSN" in shown.stdout
    assert "forbidden" in aiaas("privacy", "set", "off", "--tenant", "cli").stderr
    refused = aiaas("privacy", "set", "hide", "--tenant", name, key=admin)
    assert refused.returncode == 1 and "mode" in refused.stderr
    assert aiaas("privacy", "set", "unset", "--tenant", name, key=admin).returncode == 0
    assert "default" in aiaas("privacy", "show", name, key=admin).stdout


def test_build_reports_the_built_model(pii_model: Path, aiaas: RunCli) -> None:
    built = aiaas("privacy", "build")
    assert built.returncode == 0 and str(pii_model) in built.stdout.replace("\n", "")
