"""``aiaas evaluate`` run as a subprocess against a real server with the built-in models."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from aiaas.client import Client
from tests.cli.conftest import RunCli
from tests.conftest import LiveServer

DIAGNOSIS = "breast-cancer-diagnosis"


def test_evaluate_json_is_the_stored_evaluation(aiaas: RunCli, live_server: LiveServer,
                                                cli_key: str, tmp_path: Path) -> None:
    result = aiaas("evaluate", DIAGNOSIS, "--dataset", "builtin:breast_cancer", "--param", "seed=0",
                   "--save-plots", str(tmp_path / "plots"), "--json")
    assert result.returncode == 0, result.stderr
    evaluation = json.loads(result.stdout)
    assert (evaluation["model"], evaluation["split"], evaluation["rows"]) == (DIAGNOSIS, "test", 114)
    with Client(live_server.url, cli_key) as api:
        assert api.get_evaluation(evaluation["id"]).model_dump(mode="json") == evaluation
        registered = api.get_model(DIAGNOSIS).versions[-1].metrics
    assert evaluation["metrics"]["accuracy"] == registered["test_accuracy"]
    assert evaluation["metrics"]["roc_auc"] == registered["test_roc_auc"]
    for name in ("confusion_matrix", "roc_curve"):
        with Image.open(tmp_path / "plots" / f"{name}.png") as image:
            assert image.format == "PNG"
        assert f"{name}.png" in result.stderr


def test_evaluate_prints_metrics_and_the_confusion_matrix(aiaas: RunCli) -> None:
    result = aiaas("evaluate", DIAGNOSIS, "--dataset", "builtin:breast_cancer", "--split", "all",
                   "--version", "1")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "split all, 569 rows" in text and "metrics on every row" in text
    assert "f1_macro" in text and "roc_auc" in text and "confusion matrix" in text
    assert "malignant" in text and "benign" in text and "plots: confusion_matrix, roc_curve" in text


def test_evaluate_failures_name_the_problem(aiaas: RunCli) -> None:
    missing = aiaas("evaluate", DIAGNOSIS, "--dataset", "no-such-data")
    assert missing.returncode == 1 and "dataset 'no-such-data' not found" in missing.stderr
    incompatible = aiaas("evaluate", DIAGNOSIS, "--dataset", "builtin:iris", "--json")
    assert incompatible.returncode == 1 and incompatible.stdout == ""
    assert "dataset 'builtin:iris' lacks feature column(s) mean radius" in incompatible.stderr
    bad_split = aiaas("evaluate", DIAGNOSIS, "--dataset", "builtin:iris", "--split", "train")
    assert bad_split.returncode == 2 and "--split" in bad_split.stderr
    bad_param = aiaas("evaluate", DIAGNOSIS, "--dataset", "builtin:breast_cancer", "--param", "seed")
    assert bad_param.returncode == 2 and "KEY=VALUE" in bad_param.stderr
