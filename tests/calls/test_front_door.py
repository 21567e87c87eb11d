"""The front door: one resolution per call, admission checks on every surface, one usage row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiaas.auth.principal import Principal
from aiaas.builtin import DIAGNOSIS, EMBEDDER, ensure_builtins
from aiaas.calls import AdmissionCheck, ResolvedCall, Ticket
from aiaas.errors import Forbidden, Overloaded
from aiaas.services import Services
from aiaas.tasks.units import Units
from tests.conftest import Api
from tests.runtime.test_placement import CALLER, ROW, predict, register_two
from tests.runtime.tiny_models import build_causal_lm

# -- usage ----------------------------------------------------------------------------------------

async def test_usage_is_recorded_once_per_call_at_inference(services: Services,
                                                            tmp_path: Path) -> None:
    register_two(services, tmp_path)
    await services.start()
    try:
        await predict(services, CALLER, "first", [ROW, ROW], surface="native")
        with pytest.raises(Forbidden):
            await predict(services, Principal("clinic", "k2", frozenset({"models:read"})),
                          "first", [ROW])
        report = services.usage.report(Principal.system("clinic"))
    finally:
        await services.stop()
    assert report.totals.requests == 1
    [row] = report.records
    assert (row.model, row.version, row.key_id, row.surface, row.status) == (
        "first", 1, "k1", "native", "ok")
    assert row.units.items == 2 and row.latency_ms > 0



# -- admission checks -----------------------------------------------------------------------------

class ToyLimit(AdmissionCheck):
    """Refuses one tenant with a 429, lets others through and settles their tickets."""

    name = "toy"

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.seen: list[tuple[str, str]] = []
        self.settled: list[tuple[str, Units]] = []

    async def admit(self, call: ResolvedCall) -> Ticket | None:
        self.seen.append((call.surface, call.version.model))
        if call.principal.tenant == self.tenant:
            raise Overloaded(f"toy limit: tenant {self.tenant!r} is over it", retry_after_s=7)
        return self

    def settle(self, units: Units, status: str) -> None:
        self.settled.append((status, units))


def v2_body(row: list[float]) -> dict[str, Any]:
    return {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, len(row)], "data": row}]}


async def test_a_toy_admission_check_applies_on_all_three_surfaces(api: Api) -> None:
    ensure_builtins(api.services.registry, only={DIAGNOSIS, EMBEDDER})
    check = ToyLimit("default")
    api.services.calls.checks.append(check)
    headers = api.auth()

    native = await api.client.post(f"/api/v1/models/{DIAGNOSIS}/predict",
                                   json={"inputs": [ROW]}, headers=headers)
    assert native.status_code == 429 and native.headers["retry-after"] == "7"
    assert native.json()["error"]["code"] == "overloaded"
    assert "toy limit" in native.json()["error"]["message"]

    openai = await api.client.post("/v1/embeddings", json={"model": EMBEDDER, "input": "hi"},
                                   headers=headers)
    assert openai.status_code == 429 and "toy limit" in openai.json()["error"]["message"]

    v2 = await api.client.post(f"/v2/models/{DIAGNOSIS}/infer", json=v2_body(ROW),
                               headers=headers)
    assert v2.status_code == 429 and "toy limit" in v2.json()["error"]

    assert check.seen == [("native", DIAGNOSIS), ("openai", EMBEDDER), ("v2", DIAGNOSIS)]
    assert api.services.placement.replicas() == []
    assert api.services.usage.report(Principal.system()).totals.requests == 0

    other = api.new_key("clinic")
    passed = await api.client.post(f"/v2/models/{DIAGNOSIS}/infer", json=v2_body(ROW),
                                   headers=api.auth(other))
    assert passed.status_code == 200, passed.text
    assert check.settled == [("ok", Units(items=1))]


async def test_a_refusal_settles_the_tickets_of_earlier_checks(api: Api) -> None:
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    first, second = ToyLimit("nobody"), ToyLimit("default")
    api.services.calls.checks.extend([first, second])
    response = await api.client.post(f"/api/v1/models/{DIAGNOSIS}/predict",
                                     json={"inputs": [ROW]}, headers=api.auth())
    assert response.status_code == 429
    assert first.settled == [("overloaded", Units())] and second.settled == []


# -- one resolution per call ----------------------------------------------------------------------

async def test_a_streamed_chat_resolves_its_version_once(api: Api, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    registry = api.services.registry
    registry.register(build_causal_lm(tmp_path / "lm"), tenant="default", name="tiny-lm",
                      created_by="test")
    lookups: list[str] = []
    for method in ("cached", "resolve"):
        original = getattr(registry, method)

        def counting(*args: Any, _original: Any = original, _method: str = method,
                     **kwargs: Any) -> Any:
            lookups.append(_method)
            return _original(*args, **kwargs)

        monkeypatch.setattr(registry, method, counting)
    body = {"model": "tiny-lm", "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 4, "temperature": 0, "stream": True}
    for expected in (["cached", "resolve"], ["cached"]):
        lookups.clear()
        async with api.client.stream("POST", "/v1/chat/completions", json=body,
                                     headers=api.auth()) as response:
            text = await response.aread()
        assert response.status_code == 200 and text.endswith(b"data: [DONE]\n\n")
        assert lookups == expected
