"""The catalog, a model's page, registering a model from the browser and moving an alias, the
overview and usage pages, and what another tenant's key sees of all of them (nothing)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.console.conftest import SignIn, check_page, playwright_api
from tests.conftest import LiveServer

expect = playwright_api.expect


def test_the_catalog_searches_and_filters_by_task(signed_in: SignIn) -> None:
    page = signed_in(path="/models")
    expect(page.get_by_role("link", name="all-minilm-l6-v2")).to_be_visible()
    check_page(page, "models")
    page.get_by_label("Search").fill("whisper")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="whisper-tiny-en")).to_be_visible()
    expect(page.get_by_role("link", name="all-minilm-l6-v2")).to_have_count(0)
    page.goto("/models")
    page.get_by_label("Task").select_option("embedding")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="all-minilm-l6-v2")).to_be_visible()
    expect(page.get_by_role("link", name="whisper-tiny-en")).to_have_count(0)


def test_register_a_model_then_move_production_with_confirmation(
        signed_in: SignIn, server: LiveServer, tiny_model_archive: bytes, tmp_path: Path) -> None:
    archive = tmp_path / "iris.tar.gz"
    archive.write_bytes(tiny_model_archive)
    page = signed_in(path="/models-upload")
    check_page(page, "model-upload")
    page.get_by_label("Model name").fill("iris-console")
    page.get_by_label("Archive").set_input_files(archive)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Registered iris-console v1")).to_be_visible()
    assert page.get_by_label("Upload progress").evaluate("el => el.value") == 1
    # A bad archive: the server's 4xx in words.
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not an archive")
    page.get_by_label("Archive").set_input_files(bad)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("archive")

    with server.client() as api:
        assert api.post("/api/v1/models/iris-console/versions", content=tiny_model_archive,
                        headers={"Content-Type": "application/octet-stream"}).status_code == 201
    page.goto("/models/iris-console")
    check_page(page, "model")
    expect(page.get_by_role("cell", name="v2", exact=True)).to_be_visible()
    page.locator("#alias-form").get_by_label("Version").select_option("2")
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Move alias").click()
    assert dialogs and "Move this alias" in dialogs[0]
    with server.client() as api:
        assert api.get("/api/v1/models/iris-console").json()["aliases"]["production"] == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Move alias").click()
    expect(page.get_by_text("Alias production moved.")).to_be_visible()
    with server.client() as api:
        assert api.get("/api/v1/models/iris-console").json()["aliases"]["production"] == 2

    serving = page.locator("#serving")
    serving.get_by_label("Max batch size").fill("0")
    serving.get_by_role("button", name="Apply").click()
    expect(serving.get_by_role("alert")).to_contain_text("max_batch_size")
    serving.get_by_label("Max batch size").fill("8")
    serving.get_by_label("Preload at start").select_option("true")
    serving.get_by_role("button", name="Apply").click()
    expect(serving.get_by_role("status")).to_contain_text("v2 updated")
    with server.client() as api:
        version = api.get("/api/v1/models/iris-console/versions/2").json()
    assert version["serving"]["max_batch_size"] == 8 and version["preload"] is True
    page.wait_for_load_state("load")
    expect(page.get_by_text("batch ≤ 8")).to_be_visible()


def test_another_tenant_sees_none_of_it(signed_in: SignIn, server: LiveServer,
                                        tiny_model_archive: bytes) -> None:
    owner = server.create_key("tenant-a")
    with server.client(owner) as api:
        assert api.post("/api/v1/models/secret-iris/versions", content=tiny_model_archive,
                        headers={"Content-Type": "application/octet-stream"}).status_code == 201
        row = {"sepal length": 5.1, "sepal width": 3.5, "petal length": 1.4, "petal width": 0.2}
        assert api.post("/api/v1/models/secret-iris/predict",
                        json={"inputs": [row]}).status_code == 200
    page = signed_in(server.create_key("tenant-b"))
    for path in ("/", "/models", "/usage", "/usage?days=30"):
        page.goto(path)
        assert "secret-iris" not in page.content(), path
    answer = page.goto("/models/secret-iris")
    assert answer is not None and answer.status == 404
    check_page(page, "not-found")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aiaas_session")
    with httpx.Client(base_url=server.url, cookies={"aiaas_session": cookie}) as browser_api:
        assert browser_api.get("/api/v1/models/secret-iris").status_code == 404
        assert "secret-iris" not in browser_api.get("/api/v1/usage").text
    # The owner sees its model and its call on the usage page, drawn and exportable.
    owner_page = signed_in(owner, path="/usage")
    expect(owner_page.get_by_role("cell", name="secret-iris", exact=True).first).to_be_visible()
    expect(owner_page.locator("#usage-chart canvas")).to_have_count(1)
    check_page(owner_page, "usage")
    with owner_page.expect_download() as download:
        owner_page.get_by_role("link", name="Export CSV").click()
    assert "secret-iris" in Path(download.value.path()).read_text()


def test_the_overview_shows_recent_traffic(signed_in: SignIn, server: LiveServer) -> None:
    with server.client() as api:
        for _ in range(3):
            assert api.post("/api/v1/models/all-minilm-l6-v2/predict",
                            json={"inputs": ["hello"]}).status_code == 200
    page = signed_in(path="/models/all-minilm-l6-v2")
    expect(page.get_by_text("loaded", exact=True)).to_be_visible()  # and the engine it runs on
    page.goto("/")
    live = page.locator("#live")
    expect(live.get_by_role("cell", name="all-minilm-l6-v2", exact=True).first).to_be_visible()
    expect(live.get_by_text("Requests/s")).to_be_visible()
    expect(live.get_by_role("heading", name="Loaded models")).to_be_visible()
    check_page(page, "overview")
