"""The jobs API with the embedded worker running as a separate process: bad requests named,
keys, scopes and tenants."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.training.conftest import job_events

BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"dataset": "builtin:nope"}, "dataset 'builtin:nope' not found"),
    ({"dataset": "/etc/passwd"}, "dataset '/etc/passwd' not found"),
    ({"params": {"algorithm": "svm"}}, "params.algorithm"),
    ({"params": {"algorithm": "linear"}}, "'linear' does not fit tabular-classification"),
    ({"params": {"n_estimators": 0}}, "params.n_estimators"),
    ({"params": {"bogus": 1}}, "params.bogus"),
    ({"promote_if": "__import__('os')"}, "promote_if"),
    ({"promote_if": "rmse<=3"}, "unknown metric 'rmse'"),
    ({"dataset": "builtin:diabetes"}, "is for tabular-regression, not tabular-classification"),
    ({"task": "juggling"}, "unknown task"),
    ({"name": "bad name!"}, "name"),
]


async def test_bad_requests_name_the_problem(train_api: Api) -> None:
    for body, named in BAD_REQUESTS:
        request = {"task": "tabular-classification", "dataset": "builtin:iris", "name": "m", **body}
        response = await train_api.client.post("/api/v1/jobs", json=request, headers=train_api.auth())
        assert response.status_code == 422, (body, response.text)
        assert named in response.json()["error"]["message"], body
    assert (await train_api.client.get("/api/v1/jobs", headers=train_api.auth())).json() == {"jobs": []}


async def test_keys_scopes_and_tenants(train_api: Api) -> None:
    assert (await train_api.client.get("/api/v1/jobs")).status_code == 401
    reader = train_api.new_key(scopes=["models:read"])
    forbidden = await train_api.client.post("/api/v1/jobs", headers=train_api.auth(reader), json={
        "task": "tabular-classification", "dataset": "builtin:iris", "name": "m"})
    assert forbidden.status_code == 403
    job = (await train_api.client.post("/api/v1/jobs", headers=train_api.auth(), json={
        "task": "tabular-classification", "dataset": "builtin:iris", "name": "iris",
        "params": {"algorithm": "logistic"}})).json()
    other = train_api.new_key(tenant="other")
    for method, path in (("GET", ""), ("GET", "/events"), ("GET", "/logs"), ("POST", "/cancel"),
                         ("GET", "/plots/confusion_matrix.png")):
        response = await train_api.client.request(method, f"/api/v1/jobs/{job['id']}{path}",
                                                  headers=train_api.auth(other))
        assert response.status_code == 404, (path, response.text)
    assert (await train_api.client.get("/api/v1/jobs", headers=train_api.auth(other))).json() == {
        "jobs": []}
    events = await job_events(train_api, job["id"], reader)
    assert events[-1][1]["status"] == "succeeded"
    listed = (await train_api.client.get("/api/v1/jobs", headers=train_api.auth(reader))).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
