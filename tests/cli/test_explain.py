"""``aiaas explain`` against a real server: the built-in diagnosis model's features ranked, the
same as JSON, a clear error for a model explanations do not cover, a tenant's forecaster step
by step, and an image's heat map written over it."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from sklearn.datasets import load_breast_cancer

from tests.cli.conftest import RunCli
from tests.conftest import LiveServer
from tests.runtime.forecasters import build_forecaster
from tests.runtime.tiny_models import (
    IMAGE_LABELS,
    build_onnx_image_classifier,
    picture,
    tar_gz,
)


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


def test_explain_shows_a_forecast_step_by_step(live_server: LiveServer, aiaas: RunCli,
                                               cli_key: str, tmp_path: Path) -> None:
    with live_server.client(cli_key) as api:
        uploaded = api.post("/api/v1/models/load/versions",
                            content=tar_gz(build_forecaster(tmp_path / "load")))
        assert uploaded.status_code == 201, uploaded.text
    shown = aiaas("explain", "load", '{"horizon": 2}')
    assert shown.returncode == 0, shown.stderr
    assert "exact" in shown.stdout and "model evaluations" in shown.stdout
    for heading in ("step", "value", "trend", "base", "lags", "season"):
        assert heading in shown.stdout
    assert "2000-03-11" in shown.stdout and "2000-03-18" in shown.stdout
    as_json = aiaas("explain", "load", '{"horizon": 2}', "--json")
    [step, _] = json.loads(as_json.stdout)["explanations"][0]["steps"]
    assert {"lag_1", "month"} == {feature["name"] for feature in step["features"]}


def test_explain_writes_an_image_heat_map(aiaas: RunCli, tmp_path: Path) -> None:
    manifest = {"task": "image-classification", "labels": list(IMAGE_LABELS)}
    registered = aiaas("models", "register", str(build_onnx_image_classifier(
        tmp_path / "m", manifest=manifest)), "--name", "cli-explained-shapes")
    assert registered.returncode == 0, registered.stderr
    image = tmp_path / "picture.png"
    image.write_bytes(picture("PNG", (40, 30), seed=5))
    written = tmp_path / "overlay.png"
    shown = aiaas("explain", "cli-explained-shapes", str(image), "--samples", "100",
                  "--heatmap-side", "20", "-o", str(written))
    assert shown.returncode == 0, shown.stderr
    assert "partition" in shown.stdout and "heat map (20x15)" in shown.stdout
    with Image.open(written) as overlay:
        assert overlay.format == "PNG" and overlay.size == (20, 15)
    missing = aiaas("explain", "cli-explained-shapes", str(tmp_path / "absent.png"))
    assert missing.returncode != 0 and "no image file" in missing.stderr
