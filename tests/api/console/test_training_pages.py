"""The training pages in a real browser against a server with its embedded worker: a dataset
uploaded, previewed and deleted; a job started from the form and followed live to its model; a
slow job cancelled; evaluations started and compared; and another tenant seeing none of it."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.api.console.conftest import SignIn, check_page, playwright_api
from tests.conftest import LiveServer

expect = playwright_api.expect
SLOW = {"task": "tabular-classification", "dataset": "builtin:breast_cancer", "name": "slow",
        "params": {"algorithm": "auto", "cv_folds": 10, "n_estimators": 2000}}
"""About a minute of cross-validation on two cores: still running when it is cancelled."""


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """scikit-learn's iris as a CSV with a ``species`` label column."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    lines = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    lines += [",".join([*(f"{v:g}" for v in row), str(bunch.target_names[t])])
              for row, t in zip(bunch.data, bunch.target, strict=True)]
    path = tmp_path_factory.mktemp("csv") / "iris.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _upload(server: LiveServer, key: str, path: Path, name: str) -> None:
    with server.client(key) as api:
        answer = api.post("/api/v1/datasets", files={"file": (path.name, path.read_bytes())},
                          data={"name": name, "label": "species"})
        assert answer.status_code == 201, answer.text


def _wait_status(server: LiveServer, job_id: str, wanted: str, key: str | None = None,
                 timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with server.client(key) as api:
        while (status := api.get(f"/api/v1/jobs/{job_id}").json()["status"]) != wanted:
            assert time.monotonic() < deadline, f"job {job_id} is {status}, not {wanted}"
            time.sleep(0.2)


def test_upload_a_dataset_see_its_columns_and_rows_then_delete_it(
        signed_in: SignIn, iris_csv: Path, tmp_path: Path) -> None:
    page = signed_in(path="/datasets")
    expect(page.get_by_role("link", name="builtin:iris")).to_be_visible()
    check_page(page, "datasets")
    page.get_by_label("File").set_input_files(iris_csv)
    page.get_by_label("Name", exact=True).fill("flowers-page")
    page.get_by_label("Label column").fill("species")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Stored flowers-page (150 rows, 5 columns)")).to_be_visible()
    assert page.get_by_label("Upload progress").evaluate("el => el.value") == 1
    # A broken CSV: the server's message, naming the line.
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b,label\n1,2,x\n3,4\n")
    page.get_by_label("File").set_input_files(bad)
    page.get_by_label("Name", exact=True).fill("")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text("line 3: expected 3 fields, got 2")
    assert page.get_by_label("Upload progress").evaluate("el => el.value") == 0

    page.goto("/datasets")
    page.get_by_role("link", name="flowers-page").click()
    page.wait_for_url("**/datasets/flowers-page")
    expect(page.get_by_role("rowheader", name="petal_length")).to_be_visible()
    expect(page.get_by_role("rowheader", name="setosa")).to_be_visible()  # class balance
    preview = page.locator("#preview")
    expect(preview.locator("tbody tr")).to_have_count(20)
    expect(preview.locator("thead th")).to_have_text(
        ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"])
    expect(preview.locator("tbody tr").first.locator("td")).to_have_text(
        ["5.1", "3.5", "1.4", "0.2", "setosa"])
    check_page(page, "dataset")

    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete dataset").click()
    assert dialogs and "Delete dataset flowers-page?" in dialogs[0]
    expect(page).to_have_url(re.compile(r"/datasets/flowers-page$"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete dataset").click()
    expect(page.get_by_text("Dataset flowers-page deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="flowers-page")).to_have_count(0)
    assert page.goto("/datasets/flowers-page").status == 404  # type: ignore[union-attr]


def test_start_a_job_from_the_form_and_follow_it_to_its_model(
        signed_in: SignIn, server: LiveServer, iris_csv: Path) -> None:
    _upload(server, server.admin_key, iris_csv, "flowers")
    page = signed_in(path="/jobs/new?dataset=flowers")
    expect(page.get_by_label("Task")).to_have_value("tabular-classification")
    check_page(page, "job-new")
    params = page.locator("#params-tabular-classification")
    page.get_by_label("Model name").fill("flowers-model")
    params.get_by_label("Seed").fill("-1")
    page.get_by_role("button", name="Start training").click()
    expect(page.get_by_role("alert")).to_contain_text("params.seed")
    params.get_by_label("Seed").fill("3")
    params.get_by_label("Estimators").fill("30")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}$"))
    job_id = page.url.rsplit("/", 1)[1]

    expect(page.locator("#status")).to_contain_text("succeeded", timeout=90_000)
    assert int(page.locator("#curve").get_attribute("data-points") or 0) >= 9  # 3 x 3 folds
    expect(page.locator("#curve canvas")).to_have_count(1)
    assert page.get_by_label("Training progress").evaluate("el => el.value") == 1
    expect(page.locator("#log")).to_contain_text("status status=running")
    expect(page.locator("#log")).to_contain_text("progress stage=cross_validation")
    expect(page.locator("#job-metrics").get_by_role("rowheader", name="accuracy")).to_be_visible()
    plots = page.locator("#results img.plot")
    expect(page.get_by_role("img", name="Confusion matrix plot")).to_be_visible()
    expect(page.get_by_role("img", name="Feature importance plot")).to_be_visible()
    for index in range(plots.count()):
        expect(plots.nth(index)).to_have_js_property("complete", True)
        assert plots.nth(index).evaluate("img => img.naturalWidth") > 100
    check_page(page, "job")
    with server.client() as api:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["params"]["seed"] == 3 and job["params"]["n_estimators"] == 30
    assert job["status"] == "succeeded" and job["version"] == 1

    page.get_by_role("link", name="flowers-model v1").click()
    page.wait_for_url("**/models/flowers-model")
    expect(page.get_by_role("cell", name="v1", exact=True)).to_be_visible()
    page.goto("/jobs")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=job_id[:8]))
    expect(row).to_contain_text("succeeded")
    expect(row.get_by_role("link", name="flowers-model v1")).to_be_visible()
    check_page(page, "jobs")


def test_cancel_a_running_job_from_its_page(signed_in: SignIn, server: LiveServer) -> None:
    with server.client() as api:
        job_id = api.post("/api/v1/jobs", json=SLOW).json()["id"]
    _wait_status(server, job_id, "running")
    listing = signed_in(path="/jobs")  # the list follows the running job without a reload
    row = listing.get_by_role("row").filter(has=listing.get_by_role("link", name=job_id[:8]))
    expect(row).to_contain_text("running")
    page = signed_in(path=f"/jobs/{job_id}")
    expect(page.locator("#status")).to_contain_text("running")
    expect(page.locator("#stage")).to_contain_text("cross_validation")
    # While it runs: the bar moves and the curve has points, drawn as they arrive.
    expect(page.locator("#curve canvas")).to_have_count(1)
    assert int(page.locator("#curve").get_attribute("data-points") or 0) > 0
    assert 0 < page.get_by_label("Training progress").evaluate("el => el.value") < 1
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Cancel job").click()
    assert dialogs and "Cancel this job?" in dialogs[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#notice")).to_contain_text("Cancel requested")
    expect(page.locator("#status")).to_contain_text("cancelled", timeout=60_000)
    expect(page.get_by_role("button", name="Cancel job")).to_be_hidden()
    expect(page.locator("#results")).to_contain_text("no model was registered")
    with server.client() as api:
        assert api.get(f"/api/v1/jobs/{job_id}").json()["status"] == "cancelled"
    expect(row).to_contain_text("cancelled", timeout=15_000)


def test_evaluate_from_the_page_and_compare_two_side_by_side(signed_in: SignIn,
                                                             server: LiveServer) -> None:
    page = signed_in(path="/evaluations")
    check_page(page, "evaluations")
    page.get_by_label("Model", exact=True).select_option("breast-cancer-diagnosis")
    page.get_by_label("Dataset", exact=True).select_option("builtin:breast_cancer")
    page.get_by_role("button", name="Evaluate").click()
    page.wait_for_url(re.compile(r"/evaluations/[0-9a-f]{32}$"))
    first = page.url.rsplit("/", 1)[1]
    expect(page.locator("#evaluation-metrics").get_by_role("rowheader", name="accuracy")).to_be_visible()
    expect(page.get_by_role("img", name="Confusion matrix plot")).to_have_js_property("complete", True)
    check_page(page, "evaluation")
    with server.client() as api:
        second = api.post("/api/v1/evaluations", json={
            "model": "breast-cancer-diagnosis", "dataset": "builtin:breast_cancer",
            "split": "all"}).json()
    assert second["rows"] == 569

    page.goto("/evaluations")
    expect(page.get_by_label("Evaluation A")).to_have_value(first)
    expect(page.get_by_label("Evaluation B")).to_have_value(second["id"])
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(f"**/evaluations/compare?a={first}&b={second['id']}")
    table = page.locator("#comparison")
    accuracy = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="accuracy",
                                                                     exact=True))
    expect(accuracy.locator("td")).to_have_count(3)
    difference = float(accuracy.locator("td").nth(2).inner_text())
    assert difference == pytest.approx(second["metrics"]["accuracy"]
                                       - float(accuracy.locator("td").nth(0).inner_text()), abs=2e-4)
    samples = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="samples"))
    expect(samples.locator("td")).to_have_text(["114", "569", "+455"])
    expect(table.get_by_role("rowheader", name="f1 · malignant")).to_be_visible()
    expect(page.get_by_role("img", name="Confusion matrix plot of A")).to_be_visible()
    expect(page.get_by_role("img", name="Confusion matrix plot of B")).to_be_visible()
    check_page(page, "compare")


def test_another_tenant_sees_none_of_it(signed_in: SignIn, server: LiveServer,
                                        iris_csv: Path) -> None:
    owner = server.create_key("owner")
    _upload(server, owner, iris_csv, "owned-flowers")
    with server.client(owner) as api:
        job_id = api.post("/api/v1/jobs", json={
            "task": "tabular-classification", "dataset": "owned-flowers", "name": "owned-model",
            "params": {"algorithm": "logistic"}}).json()["id"]
        evaluation = api.post("/api/v1/evaluations", json={
            "model": "breast-cancer-diagnosis", "dataset": "builtin:breast_cancer"}).json()["id"]
    _wait_status(server, job_id, "succeeded", owner)
    page = signed_in(server.create_key("other"))
    for path in ("/datasets", "/jobs", "/evaluations", "/evaluations/compare",
                 "/jobs/new", "/datasets/builtin:iris"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
        html = page.content()
        assert "owned-flowers" not in html and job_id[:8] not in html, path
        assert evaluation not in html, path
    for path in ("/datasets/owned-flowers", f"/jobs/{job_id}", f"/evaluations/{evaluation}",
                 f"/evaluations/compare?a={evaluation}&b={evaluation}"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # The owner's own pages show all three.
    mine = signed_in(owner, path=f"/jobs/{job_id}")
    expect(mine.locator("#status")).to_contain_text("succeeded")
    mine.goto("/datasets")
    expect(mine.get_by_role("link", name="owned-flowers")).to_be_visible()
    mine.goto("/evaluations")
    expect(mine.get_by_role("link", name=re.compile("Open the evaluation"))).to_have_count(1)
