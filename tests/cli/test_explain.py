"""``aiaas explain`` against a real server: the built-in diagnosis model's features ranked, the
same as JSON, and a clear error for a model explanations do not cover."""

from __future__ import annotations

import json

from sklearn.datasets import load_breast_cancer

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer


def test_explain_ranks_features_and_refuses_other_tasks(live_server: LiveServer,
                                                        aiaas: RunCli) -> None:
    data = load_breast_cancer()
    record = json.dumps({str(n): float(v) for n, v in zip(data.feature_names, data.data[0],
                                                          strict=True)})
    shown = aiaas("explain", "breast-cancer-diagnosis", record, "--top", "5", "--samples", "200")
    assert shown.returncode == 0, shown.stderr
    assert "permutation" in shown.stdout and "'malignant'" in shown.stdout
    assert "model evaluations" in shown.stdout and "attribution" in shown.stdout
    as_json = aiaas("explain", "breast-cancer-diagnosis", record, "--log-odds", "--json")
    explained = json.loads(as_json.stdout)["explanations"][0]
    assert explained["output"] == "log_odds" and len(explained["features"]) == 30
    refused = aiaas("explain", "all-minilm-l6-v2", "hello")
    assert refused.returncode == 1 and "not available for embedding" in refused.stderr
