"""The SDK's evaluation calls, sync and async, against a real server over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image

from aiaas.client import AsyncClient, BadRequestError, Client, Evaluation, NotFoundError
from tests.conftest import LiveServer

DIAGNOSIS = "breast-cancer-diagnosis"


def test_evaluate_then_read_list_and_download(client: Client, tmp_path: Path) -> None:
    evaluation = client.evaluate(DIAGNOSIS, "builtin:breast_cancer", params={"seed": 0})
    assert isinstance(evaluation, Evaluation)
    assert (evaluation.version, evaluation.split, evaluation.rows) == (1, "test", 114)
    assert evaluation.metrics["confusion_matrix"]["labels"] == ["benign", "malignant"]
    assert client.get_evaluation(evaluation.id) == evaluation
    assert evaluation.id in [e.id for e in client.list_evaluations(model=DIAGNOSIS)]
    assert client.list_evaluations(model="other-model") == []
    saved = client.download_evaluation_plot(evaluation.id, "roc_curve", tmp_path)
    assert saved == tmp_path / "roc_curve.png"
    with Image.open(saved) as image:
        assert image.format == "PNG"
    with pytest.raises(NotFoundError):
        client.download_evaluation_plot(evaluation.id, "forecast", tmp_path)
    with pytest.raises(BadRequestError, match="lacks feature column"):
        client.evaluate(DIAGNOSIS, "builtin:wine")


def test_async_client_evaluates_the_same(live_server: LiveServer, tenant_key: str,
                                         tmp_path: Path) -> None:
    async def run() -> tuple[Evaluation, Evaluation, list[Evaluation], Path]:
        async with AsyncClient(live_server.url, tenant_key) as api:
            first = await api.evaluate(DIAGNOSIS, "builtin:breast_cancer", version="production",
                                       split="all")
            shown = await api.get_evaluation(first.id)
            listed = await api.list_evaluations(limit=1)
            path = await api.download_evaluation_plot(first.id, "confusion_matrix",
                                                      tmp_path / "cm.png")
            return first, shown, listed, path

    first, shown, listed, path = asyncio.run(run())
    assert first == shown and listed == [first] and first.rows == 569
    assert path.read_bytes().startswith(b"\x89PNG")
