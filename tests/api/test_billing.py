"""Prices, costs and budgets on a real server over real HTTP, with the built-in models: costs
equal price x units for chat, embeddings and speech; a budget holds under 8 concurrent
clients; a used-up budget is a 429 on the native API and on /v1 (the real ``openai`` client).

The server is the shared session server: prices set here apply to every tenant from now on,
so each test sets the prices it counts with first, and budgets belong to tenants of their own.
"""

from __future__ import annotations

import csv
import io
import uuid
import wave
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiaas.billing.cost import _prompt_tokens
from aiaas.usage.costs import CSV_FIELDS
from tests.client.conftest import write_speech
from tests.conftest import LiveServer

CHAT = "smollm2-135m-instruct"
EMBEDDER = "all-minilm-l6-v2"
SPEECH = "whisper-tiny-en"
FREE = "breast-cancer-diagnosis"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def new_tenant_key(server: LiveServer, prefix: str) -> tuple[str, str]:
    tenant = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with server.client() as admin:
        response = admin.post("/api/v1/keys", json={"name": "billing", "tenant": tenant})
    assert response.status_code == 201, response.text
    return tenant, response.json()["secret"]


def set_price(server: LiveServer, **body: Any) -> dict[str, Any]:
    with server.client() as admin:
        response = admin.post("/api/v1/prices", json=body)
    assert response.status_code == 201, response.text
    price: dict[str, Any] = response.json()
    return price


def set_budget(server: LiveServer, **body: Any) -> dict[str, Any]:
    with server.client() as admin:
        response = admin.put("/api/v1/budgets", json=body)
    assert response.status_code == 200, response.text
    budget: dict[str, Any] = response.json()
    return budget


def embed(client: httpx.Client, texts: list[str]) -> httpx.Response:
    return client.post(f"/api/v1/models/{EMBEDDER}/predict", json={"inputs": texts})


def usage(server: LiveServer, key: str, **params: Any) -> dict[str, Any]:
    with server.client(key) as client:
        response = client.get("/api/v1/usage", params=params)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def by_hand(price: dict[str, Any], units: dict[str, Any], *, ok: bool = True) -> Decimal:
    """Price x units, written out: what the row's cost must be (10 decimal places)."""
    rate = {name: Decimal(price[name]) for name in ("input_per_1k", "output_per_1k", "per_item",
                                                    "per_audio_minute", "per_request")}
    total = (rate["input_per_1k"] * units["prompt_tokens"] / 1000
             + rate["output_per_1k"] * units["completion_tokens"] / 1000
             + rate["per_item"] * units["items"]
             + rate["per_audio_minute"] * Decimal(repr(units["audio_seconds"])) / 60
             + (rate["per_request"] if ok else 0))
    return total.quantize(Decimal("1e-10"))


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speech(tmp_path_factory.mktemp("billing-speech") / "speech.wav")


def test_costs_are_price_times_units_for_chat_embeddings_and_speech(
        live_server: LiveServer, speech_wav: Path) -> None:
    prices = {
        CHAT: set_price(live_server, model=CHAT, input_per_1k="0.5", output_per_1k="1.5",
                        per_request="0.001"),
        EMBEDDER: set_price(live_server, model=EMBEDDER, input_per_1k="0.02",
                            per_item="0.0001"),
        SPEECH: set_price(live_server, model=SPEECH, per_audio_minute="0.006",
                          per_request="0.01"),
    }
    _, key = new_tenant_key(live_server, "costs")
    with live_server.client(key) as client:
        chat = client.post(f"/api/v1/models/{CHAT}/predict", json={
            "inputs": [{"messages": QUESTION}], "parameters": {"max_tokens": 3, "temperature": 0}})
        assert chat.status_code == 200, chat.text
        speech = client.post(f"/api/v1/models/{SPEECH}/predict",
                             files={"file": ("speech.wav", speech_wav.read_bytes(), "audio/wav")})
        assert speech.status_code == 200, speech.text
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0) as oai:
        oai.embeddings.create(model=EMBEDDER, input=["The cat sat on the mat.", "Hello."])
    report = usage(live_server, key)
    records = {record["model"]: record for record in report["records"]}
    assert set(records) == set(prices)
    for model, record in records.items():
        assert record["priced"] and record["price_id"] == prices[model]["id"], record
        assert record["currency"] == "USD"
        assert Decimal(record["cost"]) == by_hand(prices[model], record["units"]) > 0, model
    assert Decimal(report["totals"]["cost"]) == sum(Decimal(r["cost"]) for r in records.values())
    # The units priced are the call's real ones: the clip's length, the chat's tokens.
    with wave.open(str(speech_wav)) as clip:
        seconds = clip.getnframes() / clip.getframerate()
    assert records[SPEECH]["units"]["audio_seconds"] == pytest.approx(seconds, abs=0.05)
    assert records[CHAT]["units"]["completion_tokens"] <= 3
    # What admission reserved for the chat bounds its prompt from above.
    assert _prompt_tokens({"messages": QUESTION}) >= records[CHAT]["units"]["prompt_tokens"]


def test_a_price_change_leaves_earlier_rows_alone(live_server: LiveServer) -> None:
    _, key = new_tenant_key(live_server, "history")
    texts = ["one two three", "four five"]
    old = set_price(live_server, model=EMBEDDER, per_item="0.5")
    with live_server.client(key) as client:
        assert embed(client, texts).status_code == 200
        new = set_price(live_server, model=EMBEDDER, per_item="0.75")
        assert embed(client, texts).status_code == 200
    newer, older = usage(live_server, key)["records"]
    assert (older["price_id"], Decimal(older["cost"])) == (old["id"], by_hand(old, older["units"]))
    assert (newer["price_id"], Decimal(newer["cost"])) == (new["id"], by_hand(new, newer["units"]))
    assert Decimal(older["cost"]) == Decimal("1.0") and Decimal(newer["cost"]) == Decimal("1.5")
    with live_server.client(key) as client:
        history = client.get("/api/v1/prices", params={"model": EMBEDDER, "history": True})
    ids = [price["id"] for price in history.json()["prices"]]
    assert ids.index(old["id"]) < ids.index(new["id"])


def test_a_used_up_budget_is_429_on_native_and_openai(live_server: LiveServer) -> None:
    set_price(live_server, model=EMBEDDER, per_item="1")
    set_price(live_server, model=CHAT, output_per_1k="1")
    tenant, key = new_tenant_key(live_server, "quota")
    set_budget(live_server, tenant=tenant, period="day", amount="2")
    with live_server.client(key) as client:
        assert embed(client, ["a", "b"]).status_code == 200
        refused = embed(client, ["c"])
        free = client.post(f"/api/v1/models/{FREE}/predict", json={"inputs": [[1.0] * 30]})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["limit"] == "amount"
    midnight = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                               microsecond=0)
    left = (midnight - datetime.now(UTC)).total_seconds()
    assert abs(int(refused.headers["Retry-After"]) - left) <= 5
    assert free.status_code == 200, free.text  # a free model is not stopped by a spend budget
    with openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=key, max_retries=0) as oai:
        with pytest.raises(openai.RateLimitError) as caught:
            oai.embeddings.create(model=EMBEDDER, input="more")
        with pytest.raises(openai.RateLimitError) as chat:
            oai.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=2)  # type: ignore[arg-type]
    for exc in (caught.value, chat.value):
        assert exc.status_code == 429
        assert exc.body["type"] == "insufficient_quota"  # type: ignore[index]
        assert exc.response.headers["Retry-After"].isdigit()
    assert len(usage(live_server, key)["records"]) == 2  # refusals ran nothing, cost nothing


def test_a_budget_holds_under_eight_concurrent_clients(live_server: LiveServer) -> None:
    price = set_price(live_server, model=EMBEDDER, per_item="0.01", input_per_1k="0.1")
    tenant, key = new_tenant_key(live_server, "burst")
    budget = set_budget(live_server, tenant=tenant, period="day", amount="0.5")
    texts = ["Budgets hold when clients race.", "Each call reserves its most.", "Then settles."]

    def client_loop(_: int) -> list[int]:
        statuses = []
        with live_server.client(key) as client:
            for _attempt in range(8):
                statuses.append(embed(client, texts).status_code)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(client_loop, range(8)) for s in batch]
    assert set(statuses) == {200, 429}
    report = usage(live_server, key, limit=1000)
    spent = Decimal(report["totals"]["cost"])
    one_call = max(Decimal(r["cost"]) for r in report["records"])
    assert spent <= Decimal(budget["amount"])  # reservations are upper bounds: never past it
    assert spent > Decimal(budget["amount"]) - 2 * one_call  # and the budget was used
    assert statuses.count(200) == len(report["records"])
    for record in report["records"]:
        assert Decimal(record["cost"]) == by_hand(price, record["units"])
    with live_server.client(key) as client:
        status = client.get(f"/api/v1/budgets/{budget['id']}").json()
    assert Decimal(status["spent"]["amount"]) == spent
    assert Decimal(status["in_flight"]["amount"]) == 0


def test_soft_threshold_is_counted_in_metrics(live_server: LiveServer) -> None:
    set_price(live_server, model=EMBEDDER, per_item="1", input_per_1k="0")
    tenant, key = new_tenant_key(live_server, "soft")
    set_budget(live_server, tenant=tenant, period="month", amount="10", soft_threshold=0.25)

    def crossings() -> float:
        with live_server.client() as admin:
            text = admin.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (sample.name == "aiaas_budget_soft_threshold_total"
                        and sample.labels.get("tenant") == tenant):
                    return float(sample.value)
        return 0.0

    with live_server.client(key) as client:
        assert embed(client, ["a", "b"]).status_code == 200
        assert crossings() == 0
        assert embed(client, ["c"]).status_code == 200
        assert embed(client, ["d"]).status_code == 200
    assert crossings() == 1


def test_usage_costs_export_as_csv(live_server: LiveServer) -> None:
    set_price(live_server, model=EMBEDDER, per_item="0.001", input_per_1k="0.003")
    tenant, key = new_tenant_key(live_server, "csv")
    with live_server.client(key) as client:
        for texts in (["x"], ["y", "z"]):
            assert embed(client, texts).status_code == 200
        exported = client.get("/api/v1/usage", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert tuple(csv.DictReader(io.StringIO(exported.text)).fieldnames or ()) == CSV_FIELDS
    [row] = rows
    report = usage(live_server, key)
    assert (row["tenant"], row["model"], row["requests"], row["items"]) == (
        tenant, EMBEDDER, "2", "3")
    assert row["day"] == datetime.now(UTC).date().isoformat()
    assert Decimal(row["cost"]) == Decimal(report["totals"]["cost"]) > 0
    with live_server.client() as admin:  # admins: every tenant at once
        everyone = admin.get("/api/v1/usage", params={"format": "csv", "tenant": "*"}).text
    assert tenant in {line["tenant"] for line in csv.DictReader(io.StringIO(everyone))}
    with live_server.client(key) as client:
        assert client.get("/api/v1/usage", params={"tenant": "*"}).status_code == 403


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/prices", {"model": EMBEDDER, "per_item": "-0.01"}, "per_item"),
    ("/api/v1/prices", {"model": EMBEDDER, "per_item": "1", "currency": "EUR"}, "currency"),
    ("/api/v1/prices", {"model": "no-such-model", "per_item": "1"}, "model"),
    ("/api/v1/prices", {"model": EMBEDDER, "per_request": "99999999"}, "per_request"),
    ("/api/v1/budgets", {"period": "fortnight", "amount": "5"}, "period"),
    ("/api/v1/budgets", {"period": "day", "tokens": -3}, "tokens"),
    ("/api/v1/budgets", {"period": "day", "amount": "5", "tenant": "no-such-tenant"}, "tenant"),
])
def test_bad_input_is_a_422_naming_the_field(live_server: LiveServer, path: str,
                                             body: dict[str, Any], field: str) -> None:
    with live_server.client() as admin:
        send = admin.post if path.endswith("prices") else admin.put
        response = send(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


def test_setting_needs_admin_and_other_tenants_budgets_are_404(live_server: LiveServer) -> None:
    tenant, key = new_tenant_key(live_server, "own")
    _, stranger = new_tenant_key(live_server, "stranger")
    budget = set_budget(live_server, tenant=tenant, period="month", items=1000)
    with live_server.client(key) as client:
        assert client.get(f"/api/v1/budgets/{budget['id']}").status_code == 200
        assert [b["id"] for b in client.get("/api/v1/budgets").json()["budgets"]] == [budget["id"]]
        assert client.post("/api/v1/prices", json={"model": EMBEDDER, "per_item": "0"}
                           ).status_code == 403
        assert client.put("/api/v1/budgets", json={"period": "day", "items": 1}).status_code == 403
    with live_server.client(stranger) as client:
        assert client.get(f"/api/v1/budgets/{budget['id']}").status_code == 404
        assert client.get("/api/v1/budgets", params={"tenant": tenant}).status_code == 404
        assert client.get("/api/v1/budgets").json()["budgets"] == []
        assert client.delete(f"/api/v1/budgets/{budget['id']}").status_code == 403
    with live_server.client() as admin:
        assert admin.delete(f"/api/v1/budgets/{budget['id']}").status_code == 204
        assert admin.get(f"/api/v1/budgets/{budget['id']}").status_code == 404


