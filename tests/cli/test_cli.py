"""The ``aiaas`` CLI, run as a subprocess against a real server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from aiaas.client import AuthenticationError, Client
from tests.cli.conftest import RunCli
from tests.client.iris_model import IRIS_SETOSA, write_iris_model
from tests.conftest import LiveServer


def _ok(result: object) -> None:
    assert getattr(result, "returncode", None) == 0, (getattr(result, "stdout", ""),
                                                      getattr(result, "stderr", ""))


def test_keys_create_list_revoke(live_server: LiveServer, aiaas: RunCli) -> None:
    created = aiaas("keys", "create", "--name", "cli-test", "--tenant", "cli-keys")
    _ok(created)
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("aiaas-")
    with Client(live_server.url, secret) as sdk:
        me = sdk.me()
        assert me.tenant == "cli-keys"

        listed = aiaas("keys", "list", "--tenant", "cli-keys", "--json")
        _ok(listed)
        assert [key["id"] for key in json.loads(listed.stdout)] == [me.key_id]

        _ok(aiaas("keys", "revoke", me.key_id))
        # Revoked on the data dir by another process: the server sees it within its key cache
        # time (AIAAS_CACHE_TTL_S, 2 s); a revocation through the server applies at once.
        deadline = time.monotonic() + float(live_server.env.get("AIAAS_CACHE_TTL_S", 2)) + 1
        with pytest.raises(AuthenticationError):
            while time.monotonic() < deadline:
                sdk.me()
                time.sleep(0.1)

    refused = aiaas("whoami", key=secret)
    assert refused.returncode == 1
    assert "unauthenticated" in refused.stderr and "revoked" in refused.stderr


def test_keys_create_takes_scopes_repeated_or_comma_separated(aiaas: RunCli) -> None:
    created = aiaas("keys", "create", "--name", "narrow", "--tenant", "cli-scopes", "--scopes",
                    "predict,models:read", "--scope", "models:write", "--json")
    _ok(created)
    assert sorted(json.loads(created.stdout)["scopes"]) == ["models:read", "models:write", "predict"]
    refused = aiaas("keys", "create", "--name", "bad", "--scopes", "predict,launch")
    assert refused.returncode != 0 and "launch" in refused.stderr


def test_models_list_json(aiaas: RunCli) -> None:
    result = aiaas("models", "list", "--json")
    _ok(result)
    models = {model["name"]: model for model in json.loads(result.stdout)}
    assert {"all-minilm-l6-v2", "breast-cancer-diagnosis"} <= set(models)
    assert models["all-minilm-l6-v2"]["task"] == "embedding"


def test_predict_text_input_json(aiaas: RunCli) -> None:
    result = aiaas("predict", "all-minilm-l6-v2", "--input", "hello", "--json")
    _ok(result)
    body = json.loads(result.stdout)
    assert body["model"] == "all-minilm-l6-v2" and body["usage"]["items"] == 1
    assert len(body["outputs"][0]["embedding"]) == 384


def test_predict_from_files(aiaas: RunCli, tmp_path: Path) -> None:
    data = load_breast_cancer()
    records = [{name: float(v) for name, v in zip(data.feature_names, row, strict=True)}
               for row in data.data[:2]]
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(records[0]))

    readable = aiaas("predict", "breast-cancer-diagnosis", "--file", str(sample))
    _ok(readable)
    assert "breast-cancer-diagnosis" in readable.stdout
    assert data.target_names[data.target[0]] in readable.stdout

    lines = tmp_path / "samples.jsonl"
    lines.write_text("\n".join(json.dumps(record) for record in records) + "\n")
    as_json = aiaas("predict", "breast-cancer-diagnosis", "--file", str(lines), "--json")
    _ok(as_json)
    outputs = json.loads(as_json.stdout)["outputs"]
    assert [o["label"] for o in outputs] == [data.target_names[t] for t in data.target[:2]]


def test_usage_json_shows_the_calls(live_server: LiveServer, aiaas: RunCli) -> None:
    key = live_server.create_key("cli-usage")
    _ok(aiaas("predict", "all-minilm-l6-v2", "-i", "one", "-i", "two", key=key))
    deadline = time.monotonic() + 15
    while True:
        result = aiaas("usage", "--json", "--model", "all-minilm-l6-v2", key=key)
        _ok(result)
        report = json.loads(result.stdout)
        if report["totals"]["requests"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert report["totals"]["requests"] == 1 and report["totals"]["items"] == 2
    [record] = report["records"]
    assert record["model"] == "all-minilm-l6-v2" and record["tenant"] == "cli-usage"


def test_unknown_model_fails_with_one_clear_line(aiaas: RunCli) -> None:
    result = aiaas("predict", "no-such-model", "--input", "hello")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "not_found" in result.stderr and "no-such-model" in result.stderr
    assert "Traceback" not in result.stderr


def test_register_alias_and_delete_a_model(aiaas: RunCli, tmp_path: Path) -> None:
    model_dir = tmp_path / "iris"
    write_iris_model(model_dir)
    registered = aiaas("models", "register", str(model_dir), "--name", "cli-iris", "--json")
    _ok(registered)
    assert json.loads(registered.stdout)["version"] == 1
    _ok(aiaas("models", "register", str(model_dir), "--name", "cli-iris"))

    moved = aiaas("models", "alias", "cli-iris", "production", "2", "--json")
    _ok(moved)
    assert json.loads(moved.stdout)["aliases"] == {"production": 2}
    shown = aiaas("models", "show", "cli-iris")
    _ok(shown)
    assert "production" in shown.stdout and "train_accuracy" in shown.stdout

    predicted = aiaas("predict", "cli-iris", "--input", json.dumps(IRIS_SETOSA), "--json")
    _ok(predicted)
    body = json.loads(predicted.stdout)
    assert body["version"] == 2 and body["outputs"][0]["label"] == "setosa"

    _ok(aiaas("models", "delete", "cli-iris", "--yes"))
    gone = aiaas("models", "show", "cli-iris")
    assert gone.returncode == 1 and "not_found" in gone.stderr
