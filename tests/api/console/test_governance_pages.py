"""Governance pages in a real browser: tenants with their limits and spend, prices, budgets, the
audit log and PII policies; and what a key without the admin scope gets there (403 pages)."""

from __future__ import annotations

import httpx

from tests.api.console.conftest import SignIn, check_page, playwright_api
from tests.conftest import LiveServer

expect = playwright_api.expect
EMBED = "/api/v1/models/all-minilm-l6-v2/predict"


def _key(server: LiveServer, tenant: str, *scopes: str) -> str:
    with server.client() as api:
        answer = api.post("/api/v1/keys", json={"name": f"{tenant}-app", "tenant": tenant,
                                                "scopes": list(scopes)})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["secret"])


def _tenant(server: LiveServer, name: str) -> None:
    with server.client() as api:
        assert api.post("/api/v1/tenants", json={"name": name}).status_code == 201


def _embed(key: str, server: LiveServer, times: int) -> list[int]:
    with server.client(key) as api:
        return [api.post(EMBED, json={"inputs": ["hello"]}).status_code for _ in range(times)]


def test_a_tenant_is_created_limited_disabled_and_enabled_again(
        signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in(path="/tenants")
    check_page(page, "tenants")
    page.locator("summary", has_text="Create a tenant").click()
    page.get_by_label("Name", exact=True).fill("acme")
    page.get_by_label("Display name").fill("Acme Corp")
    page.get_by_role("button", name="Create tenant").click()
    page.wait_for_url("**/tenants/acme?created=1")
    expect(page.get_by_role("heading", name="Tenant acme")).to_be_visible()

    limits = page.locator("form[action='/tenants/acme/limits']")
    page.locator("summary", has_text="Set limits").click()
    page.get_by_label("Requests / min").fill("0")
    limits.get_by_role("button", name="Set limits").click()
    expect(page.get_by_role("alert")).to_contain_text("requests_per_minute must be between 1")
    page.get_by_label("Requests / min").fill("2")
    limits.get_by_role("button", name="Set limits").click()
    own = page.get_by_role("row", name="the tenant (every key)")
    expect(own.get_by_role("cell", name="2", exact=True)).to_be_visible()
    check_page(page, "tenant")

    key = _key(server, "acme", "predict")
    assert _embed(key, server, 3) == [200, 200, 429]

    page.goto("/tenants")
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Disable tenant acme").click()
    assert dialogs and "Disable tenant acme" in dialogs[0]
    assert _embed(key, server, 1) == [429]  # dismissed: still enabled, still limited
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Disable tenant acme").click()
    expect(page.get_by_role("row", name="acme").get_by_text("disabled")).to_be_visible()
    with server.client(key) as api:
        refused = api.post(EMBED, json={"inputs": ["hello"]})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_disabled"

    page.goto("/tenants/acme")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear the limits of the tenant (every key)").click()
    expect(own.get_by_text("no limits set")).to_be_visible()
    page.get_by_role("button", name="Enable tenant").click()
    expect(page.get_by_text("enabled", exact=True)).to_be_visible()
    assert _embed(key, server, 1) == [200]


def test_a_price_and_a_budget_show_spend_on_the_tenant_page(
        signed_in: SignIn, server: LiveServer) -> None:
    _tenant(server, "spender")
    key = _key(server, "spender", "predict")
    page = signed_in(path="/prices")
    page.get_by_label("Model", exact=True).fill("all-minilm-l6-v2")
    page.get_by_label("Per request").fill("-1")
    page.get_by_role("button", name="Set price").click()
    expect(page.get_by_role("alert")).to_contain_text("per_request: must not be negative")
    page.get_by_label("Per request").fill("0.01")
    page.get_by_role("button", name="Set price").click()
    expect(page.get_by_role("status")).to_contain_text("set.")
    row = page.get_by_role("row", name="all-minilm-l6-v2")
    expect(row.get_by_role("cell", name="0.01", exact=True)).to_be_visible()
    check_page(page, "prices")

    page.goto("/budgets?tenant=spender")
    page.get_by_label("Spend (USD)").fill("5")
    page.get_by_role("button", name="Set budget").click()
    page.wait_for_url("**/budgets?tenant=spender")
    expect(page.get_by_role("row", name="spender")).to_contain_text("0 USD of 5 USD")
    check_page(page, "budgets")

    assert _embed(key, server, 3) == [200, 200, 200]
    page.goto("/tenants/spender")
    meter = page.get_by_label("Spend: ")
    expect(meter).to_have_attribute("data-spent", "0.03")
    assert float(meter.evaluate("el => el.value")) > 0
    expect(page.get_by_text("0.03 USD", exact=True)).to_be_visible()  # spent this month

    page.goto("/budgets?tenant=spender")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete the month budget of spender").click()
    expect(page.get_by_text("No budgets.")).to_be_visible()


def test_the_audit_log_lists_newest_first_filters_pages_and_verifies(
        signed_in: SignIn, server: LiveServer) -> None:
    _tenant(server, "audited")
    with server.client() as api:
        assert api.put("/api/v1/tenants/audited/limits",
                       json={"requests_per_minute": 100}).status_code == 200
    page = signed_in(path="/audit")
    rows = page.locator("#audit-records tbody tr")
    expect(rows.nth(0)).to_contain_text("limit.set")
    expect(rows.nth(0)).to_contain_text("requests_per_minute")
    expect(rows.nth(1)).to_contain_text("tenant.create")
    check_page(page, "audit")

    page.get_by_label("Action").select_option("tenant.create")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("audited")
    assert rows.count() >= 1
    for text in rows.all_inner_texts():
        assert "tenant.create" in text and "limit.set" not in text

    page.goto("/audit?limit=1")
    expect(rows).to_have_count(1)
    newest = rows.first.locator("th").inner_text()
    page.get_by_role("link", name="Older →").click()
    expect(rows).to_have_count(1)
    assert int(rows.first.locator("th").inner_text()) == int(newest) - 1
    expect(page.get_by_role("link", name="← Newest")).to_be_visible()

    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_role("status")).to_contain_text("Chain ok")

    answer = page.goto("/audit?since=yesterday")
    assert answer is not None and answer.status == 422
    expect(page.get_by_role("alert")).to_contain_text("since")

    reader = signed_in(_key(server, "audited", "audit:read"), path="/audit")
    expect(reader.locator("#audit-records")).to_contain_text("tenant.create")
    expect(reader.get_by_role("button", name="Verify chain")).to_have_count(0)
    answer = reader.goto("/audit/verify")
    assert answer is not None and answer.status == 403


def test_a_pii_policy_is_set_listed_tried_and_cleared(
        signed_in: SignIn, server: LiveServer) -> None:
    _tenant(server, "private")
    page = signed_in(path="/privacy")
    check_page(page, "privacy")
    page.get_by_label("Tenant", exact=True).fill("nobody")
    page.get_by_role("button", name="Set policy").click()
    expect(page.get_by_role("alert")).to_contain_text("no tenant 'nobody'")
    page.get_by_label("Tenant", exact=True).fill("private")
    page.get_by_label("Mode", exact=True).select_option("block")
    page.get_by_label("CREDIT_CARD").check()
    page.get_by_label("US_SSN").check()
    page.get_by_role("button", name="Set policy").click()
    expect(page.get_by_role("status")).to_contain_text("Policy of tenant private set")
    row = page.locator("#policies tbody tr", has_text="private")
    expect(row).to_contain_text("block")
    expect(row).to_contain_text("CREDIT_CARD, US_SSN")
    with server.client() as api:
        [policy] = api.get("/api/v1/tenants/private/privacy").json()["policies"]
    assert (policy["mode"], policy["source"]) == ("block", "tenant")

    # The analyzer answers through the API: the entities found, or (while the name model is
    # still being built on this machine) its 503 in words.
    page.get_by_role("button", name="Find personal data").click()
    result = page.locator("#pii-result")
    expect(result.get_by_role("table").or_(result.get_by_role("alert"))).to_be_visible()
    if result.get_by_role("alert").count():
        expect(result.get_by_role("alert")).to_contain_text("PII")
    else:
        expect(result.get_by_role("row", name="EMAIL_ADDRESS")).to_be_visible()
        expect(page.locator("#pii-redacted")).to_contain_text("<EMAIL_ADDRESS_1>")
    check_page(page, "privacy-tried")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Clear the policy of private, the tenant").click()
    expect(page.locator("#policies tbody tr", has_text="private")).to_have_count(0)


def test_a_key_without_admin_gets_403_pages(signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in(_key(server, "default", "predict"), path="/tenants")
    for path in ("/tenants", "/tenants/default", "/prices", "/budgets", "/audit", "/privacy"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    check_page(page, "forbidden")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aiaas_session")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    with httpx.Client(base_url=server.url, cookies={"aiaas_session": cookie}) as browser:
        posted = browser.post("/tenants", data={"name": "sneaky", "csrf_token": token or ""})
    assert posted.status_code == 403 and "admin" in posted.text


def test_the_pages_fit_a_phone(signed_in: SignIn) -> None:
    page = signed_in(path="/tenants")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/tenants", "/tenants/default", "/prices", "/budgets", "/audit", "/privacy"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow)
