"""The datasets API over the real ASGI app: multipart upload, list, show, delete, limits, scopes
and tenants (SQLite, then PostgreSQL), and a job trained on an uploaded CSV with its own split."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training.datasets import builtin
from tests.conftest import Api

DATASET_FIELDS = {"id", "name", "kind", "format", "rows", "columns", "label", "split_column",
                  "timestamp", "stats", "size_bytes", "sha256", "created_at", "description",
                  "builtin"}


def _table(rows: int = 120, seed: int = 0) -> tuple[str, int]:
    """Two informative features, a label and a split column; returns the CSV and its test rows."""
    rng = np.random.default_rng(seed)
    lines = ["x1,x2,noise,label,part"]
    parts = rng.choice(["train", "validation", "test"], rows, p=[0.6, 0.15, 0.25])
    parts[:2], parts[2:4] = "train", "test"
    for i in range(rows):
        positive = i % 2 == 0
        x1 = rng.normal(2.0 if positive else -2.0, 1.0)
        x2 = rng.normal(1.0 if positive else -1.0, 1.0)
        lines.append(f"{x1:.4f},{x2:.4f},{rng.normal():.4f},{'good' if positive else 'bad'},"
                     f"{parts[i]}")
    return "\n".join(lines) + "\n", int((parts == "test").sum())


async def _upload(api: Api, filename: str, data: bytes | str, key: str | None = None,
                  **fields: str) -> Any:
    content = data.encode() if isinstance(data, str) else data
    return await api.client.post("/api/v1/datasets", headers=api.auth(key),
                                 files={"file": (filename, content, "application/octet-stream")},
                                 data=fields)


def _stored(api: Api) -> list[str]:
    root = api.services.datasets.root
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def test_upload_list_show_delete(api: Api) -> None:
    text, _ = _table(40)
    response = await _upload(api, "Customers 2024.csv", text, split_column="part")
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == DATASET_FIELDS
    assert created["id"].startswith("ds-") and created["name"] == "customers-2024"
    assert (created["kind"], created["format"], created["rows"]) == ("table", "csv", 40)
    assert created["columns"] == {"x1": "number", "x2": "number", "noise": "number",
                                  "label": "label", "part": "label"}
    assert (created["label"], created["split_column"], created["timestamp"]) == ("label", "part",
                                                                                 None)
    assert created["stats"]["classes"] == {"bad": 20, "good": 20}
    assert sum(created["stats"]["split"].values()) == 40
    assert created["size_bytes"] == len(text) and len(created["sha256"]) == 64
    assert created["builtin"] is False and created["created_at"]

    listed = (await api.client.get("/api/v1/datasets", headers=api.auth())).json()["datasets"]
    assert [d["id"] for d in listed] == [*builtin.names(), created["id"]]
    iris = next(d for d in listed if d["id"] == "builtin:iris")
    assert iris["name"] == "builtin:iris" and iris["builtin"] is True and iris["description"]
    assert (iris["kind"], iris["rows"], iris["label"], iris["format"]) == ("table", 150, "label",
                                                                          None)
    assert iris["stats"]["classes"] == {"setosa": 50, "versicolor": 50, "virginica": 50}
    assert listed[-1] == created

    for ref in (created["id"], "customers-2024"):
        shown = await api.client.get(f"/api/v1/datasets/{ref}", headers=api.auth())
        assert shown.status_code == 200 and shown.json() == created
    shown = await api.client.get("/api/v1/datasets/builtin:iris", headers=api.auth())
    assert shown.json() == iris

    assert (await _upload(api, "again.csv", text, name="customers-2024")).status_code == 409
    builtin_delete = await api.client.delete("/api/v1/datasets/builtin:iris", headers=api.auth())
    assert builtin_delete.status_code == 409
    assert builtin_delete.json()["error"]["message"] == "built-in datasets cannot be deleted"

    deleted = await api.client.delete("/api/v1/datasets/customers-2024", headers=api.auth())
    assert deleted.status_code == 204 and _stored(api) == []
    for ref in (created["id"], "customers-2024"):
        assert (await api.client.get(f"/api/v1/datasets/{ref}", headers=api.auth())
                ).status_code == 404


async def test_jsonl_and_image_zip_uploads(api: Api) -> None:
    jsonl = "".join(f'{{"text": "review number {i}", "label": "{["pos", "neg"][i % 2]}"}}\n'
                    for i in range(8))
    response = await _upload(api, "reviews.jsonl", jsonl, name="reviews")
    assert response.status_code == 201, response.text
    assert response.json()["columns"] == {"text": "text", "label": "label"}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for cls in ("circle", "square", "cross"):
            for i in range(2):
                image = io.BytesIO()
                Image.new("L", (16, 16), 60 * i).save(image, format="PNG")
                zf.writestr(f"shapes/{cls}/{i}.png", image.getvalue())
    response = await _upload(api, "shapes.zip", buffer.getvalue())
    assert response.status_code == 201, response.text
    shapes = response.json()
    assert (shapes["kind"], shapes["format"], shapes["rows"], shapes["columns"]) == (
        "images", "zip", 6, {})
    assert shapes["stats"]["classes"] == {"circle": 2, "cross": 2, "square": 2}


async def test_bad_uploads_are_4xx_naming_the_problem_and_store_nothing(api: Api) -> None:
    text, _ = _table(20)
    lines = text.splitlines()
    broken = "\n".join([*lines[:8], "1,2", *lines[8:]]) + "\n"
    cases: list[tuple[Any, int, str]] = [
        (await _upload(api, "data.xlsx", text), 422,
         "unsupported file 'data.xlsx': upload a .csv, .jsonl or .zip file"),
        (await _upload(api, "broken.csv", broken), 422,
         "line 9: expected 5 fields, got 2"),
        (await _upload(api, "d.csv", text, label="nope"), 422, "label column 'nope' not found"),
        (await _upload(api, "d.csv", text, name="Bad Name"), 422, "invalid dataset name"),
        (await _upload(api, "d.csv", text, colour="red"), 422, "unknown form field 'colour'"),
        (await _upload(api, "empty.csv", ""), 422, "the file is empty"),
        (await api.client.post("/api/v1/datasets", headers=api.auth(), json={"file": "x"}), 422,
         "send the dataset as multipart/form-data"),
        (await api.client.post("/api/v1/datasets", headers=api.auth(), data={"name": "x"},
                               files={"other": ("a.csv", b"a\n1\n")}), 422,
         "unknown form field 'other'"),
        (await api.client.post("/api/v1/datasets", headers=api.auth(), data={"name": "x"},
                               files=[]), 422, "send the dataset as multipart/form-data"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, (message, response.text)
        assert message in response.json()["error"]["message"], response.text
    assert cases[1][0].json()["error"]["details"] == {"field": "file", "line": 9}
    assert _stored(api) == []
    assert list(api.services.settings.tmp_dir.glob("stage-*")) == []


async def test_upload_over_the_limit_is_413_and_stores_nothing(api: Api) -> None:
    api.services.datasets.max_upload_bytes = 4096
    text, _ = _table(200)
    response = await _upload(api, "big.csv", text)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == "upload exceeds the limit of 4096 bytes"
    assert _stored(api) == [] and list(api.services.settings.tmp_dir.glob("stage-*")) == []
    assert (await api.client.get("/api/v1/datasets", headers=api.auth())).json()["datasets"][-1][
        "builtin"] is True


async def test_zip_bomb_and_traversal_are_4xx(api: Api) -> None:
    api.services.datasets.max_upload_bytes = 64 * 1024
    bomb, escape = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/zeros.png", b"\0" * (1024 * 1024))
    with zipfile.ZipFile(escape, "w") as zf:
        zf.writestr("../../outside.png", b"x")
    for data, status, message in ((bomb, 413, "archive expands past 262144 bytes"),
                                  (escape, 422, "archive member escapes the target directory")):
        response = await _upload(api, "evil.zip", data.getvalue())
        assert response.status_code == status, response.text
        assert response.json()["error"]["message"].startswith(message)
    assert _stored(api) == []
    assert not (api.services.settings.data_dir.parent / "outside.png").exists()


async def test_scopes_and_tenants(api: Api) -> None:
    text, _ = _table(20)
    assert (await api.client.get("/api/v1/datasets")).status_code == 401
    reader = api.new_key(scopes=["models:read"])
    assert (await _upload(api, "d.csv", text, key=reader)).status_code == 403
    created = (await _upload(api, "mine.csv", text)).json()
    assert (await api.client.delete(f"/api/v1/datasets/{created['id']}",
                                    headers=api.auth(reader))).status_code == 403
    other = api.new_key(tenant="other")
    for ref in (created["id"], "mine"):
        for method in ("GET", "DELETE"):
            theirs = await api.client.request(method, f"/api/v1/datasets/{ref}",
                                              headers=api.auth(other))
            assert theirs.status_code == 404, theirs.text
            assert theirs.json()["error"]["message"].startswith(f"dataset {ref!r} not found")
    listed = (await api.client.get("/api/v1/datasets", headers=api.auth(other))).json()["datasets"]
    assert all(d["builtin"] for d in listed)
    assert (await _upload(api, "mine.csv", text, key=other)).status_code == 201
    mine = await api.client.get("/api/v1/datasets/mine", headers=api.auth(reader))
    assert mine.json()["id"] == created["id"]


async def test_job_trains_on_an_uploaded_csv_with_its_own_split(train_api: Api) -> None:
    from tests.training.conftest import _train

    text, test_rows = _table(160, seed=1)
    response = await _upload(train_api, "churn.csv", text, split_column="part")
    assert response.status_code == 201, response.text
    job = await _train(train_api, task="tabular-classification", dataset="churn", name="churn",
                       params={"algorithm": "logistic", "seed": 0})
    assert job["status"] == "succeeded", job
    assert job["result"]["split"]["test"] == test_rows == job["metrics"]["samples"]
    parts = response.json()["stats"]["split"]
    assert job["result"]["split"] == {"train": parts["train"], "validation": parts["validation"],
                                      "test": parts["test"]}
    assert job["metrics"]["accuracy"] >= 0.8
    predicted = await train_api.client.post(
        "/api/v1/models/churn/predict", headers=train_api.auth(),
        json={"inputs": [{"x1": 2.5, "x2": 1.0, "noise": 0.0}]})
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["outputs"][0]["label"] == "good"
    deleted = await train_api.client.delete("/api/v1/datasets/churn", headers=train_api.auth())
    assert deleted.status_code == 204


async def test_file_part_first_and_the_upload_limit_not_the_body_limit(
        tmp_path: Path, database_url: str) -> None:
    """curl sends the parts in the order given; an upload may pass the JSON body limit."""
    import httpx
    from asgi_lifespan import LifespanManager

    from aiaas.api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        builtin_models=False, embedded_worker=False, log_json=False,
                        max_body_bytes=2048)
    services = Services.build(settings)
    text, _ = _table(300)
    assert len(text) > 4 * settings.max_body_bytes
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"late.csv\""
            f"\r\nContent-Type: text/csv\r\n\r\n{text}\r\n--{boundary}\r\nContent-Disposition: "
            f"form-data; name=\"label\"\r\n\r\nlabel\r\n--{boundary}\r\nContent-Disposition: "
            f"form-data; name=\"split_column\"\r\n\r\npart\r\n--{boundary}--\r\n").encode()
    try:
        app = create_app(settings, services)
        key = services.keys.create(Principal.system(), name="k", tenant="default", admin=True).secret
        lifespan = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
        async with lifespan as manager, httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as client:
            headers = {"Authorization": f"Bearer {key}",
                       "Content-Type": f"multipart/form-data; boundary={boundary}"}
            response = await client.post("/api/v1/datasets", headers=headers, content=body)
            assert response.status_code == 201, response.text
            assert (response.json()["name"], response.json()["split_column"]) == ("late", "part")
            cut = body[: body.index(b"\r\n--" + boundary.encode())]  # the client stopped early
            response = await client.post("/api/v1/datasets", headers=headers, content=cut)
            assert response.status_code == 422
            assert "the upload is incomplete" in response.json()["error"]["message"]
            assert [d.name for d in services.datasets.list_datasets("default")] == ["late"]
            too_big = await client.post("/api/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                                        json={"task": "x" * 3000})
            assert too_big.status_code == 413
    finally:
        services.db.dispose()
