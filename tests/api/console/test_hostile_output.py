"""Model output and names are data in every page: a tenant's model whose labels and description
carry HTML and script shows them as text, runs nothing, and injects no element."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np

from tests.api.console.conftest import SignIn, check_page, playwright_api
from tests.conftest import LiveServer

expect = playwright_api.expect
IMG = '<img src=x onerror="window.pwned=1">'
SCRIPT = "<script>window.pwned=2</script>"


def hostile_archive() -> bytes:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    names = np.asarray([IMG, SCRIPT, "plain"])[iris.target]
    model = LogisticRegression(max_iter=500).fit(iris.data.astype(np.float32), names)
    onnx = to_onnx(model, iris.data[:1].astype(np.float32), options={"zipmap": False})
    manifest = {"task": "tabular-classification", "description": f"{SCRIPT} {IMG}",
                "feature_names": ["a", "b", "c", "d"], "labels": [str(c) for c in model.classes_]}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in (("m/model.onnx", onnx.SerializeToString()),
                              ("m/aiaas.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_html_in_labels_and_descriptions_is_shown_as_text(signed_in: SignIn,
                                                          server: LiveServer) -> None:
    with server.client() as api:
        assert api.post("/api/v1/models/hostile/versions", content=hostile_archive(), headers={
            "Content-Type": "application/octet-stream"}).status_code == 201
    page = signed_in(path="/models")
    for path in ("/models", "/models/hostile"):
        page.goto(path)
        expect(page.get_by_text(SCRIPT).first).to_be_visible()
    page.goto("/playground/classify?model=hostile")
    page.get_by_label("Paste a row").fill("5.1, 3.5, 1.4, 0.2")
    page.get_by_role("button", name="Fill the form").click()
    page.get_by_role("button", name="Classify").click()
    result = page.locator("#classify-result")
    expect(result.locator(".bars li")).to_have_count(3)
    expect(result).to_contain_text(IMG)
    assert page.evaluate("window.pwned") is None
    assert page.locator('img[src="x"]').count() == 0
    check_page(page, "hostile-output")
