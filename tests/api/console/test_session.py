"""Signing in and out, the session cookie's flags, CSRF and origin checks, scopes and tenants."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.api.console.conftest import SignIn, check_page, playwright_api
from tests.conftest import LiveServer, stop_server
from tests.serve_cli import serve, server_log

expect = playwright_api.expect


def _key(server: LiveServer, tenant: str, *scopes: str) -> str:
    extra = [arg for scope in scopes for arg in ("--scope", scope)]
    return server.create_key(tenant, *extra)


def _storage_and_html(page: playwright_api.Page) -> str:
    stored = page.evaluate("() => JSON.stringify([Object.entries(localStorage), "
                           "Object.entries(sessionStorage), document.cookie])")
    return page.content() + stored + page.url


def test_sign_in_sets_a_locked_down_cookie_and_keeps_the_key_out_of_the_page(
        signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    cookies = page.context.cookies()
    [session] = [c for c in cookies if c["name"] == "aiaas_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and not session["secure"]
    assert session["expires"] > time.time() + 3600
    secret = server.admin_key.split("-", 2)[2]
    for path in ("/", "/models", "/usage", "/keys"):
        page.goto(path)
        assert secret not in _storage_and_html(page), path
    check_page(page, "keys")
    page.goto("/")
    check_page(page, "overview")


def test_a_wrong_key_is_refused_in_words(browser: playwright_api.Browser, server: LiveServer) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/models")
    assert "/sign-in" in page.url  # a page needs a session
    check_page(page, "sign-in")
    page.get_by_label("API key").fill("aiaas-0123456789abcdef-nope")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("unknown API key")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "aiaas_session"]
    context.close()


def test_sign_out_ends_the_session(signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in()
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aiaas_session")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("signed out")).to_be_visible()
    page.goto("/models")
    assert "/sign-in" in page.url
    # The old cookie is dead on the server too, not just dropped by the browser.
    answer = httpx.get(f"{server.url}/api/v1/me", cookies={"aiaas_session": cookie})
    assert answer.status_code == 401


def test_changes_need_the_csrf_token_and_the_same_origin(signed_in: SignIn,
                                                         server: LiveServer) -> None:
    page = signed_in()
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aiaas_session")
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    with httpx.Client(base_url=server.url, cookies={"aiaas_session": cookie}) as client:
        assert client.get("/api/v1/me").json()["tenant"] == "default"  # reads need no token
        no_token = client.post("/api/v1/keys", json={"name": "x"})
        assert no_token.status_code == 403 and no_token.json()["error"]["details"]["reason"] == "csrf"
        other_origin = client.post("/api/v1/keys", json={"name": "x"}, headers={
            "X-CSRF-Token": csrf, "Origin": "http://evil.example"})
        assert other_origin.status_code == 403
        assert "cross-origin" in other_origin.json()["error"]["message"]
        form = client.post("/keys", data={"name": "x", "csrf_token": "wrong"})
        assert form.status_code == 403
        made = client.post("/api/v1/keys", json={"name": "made-by-page"},
                           headers={"X-CSRF-Token": csrf, "Origin": server.url})
        assert made.status_code == 201
    with server.client() as api:
        names = [k["name"] for k in api.get("/api/v1/keys").json()["keys"]]
    assert "x" not in names and "made-by-page" in names


def test_a_form_posted_from_another_origin_is_refused(signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in()
    attack = (f'<!doctype html><html lang="en"><title>x</title><form method="post" '
              f'action="{server.url}/keys"><input name="name" value="evil-key">'
              f'<input name="admin" value="true"></form>'
              f'<script>document.forms[0].submit()</script></html>')
    page.route("http://evil.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=attack))
    page.goto("http://evil.example/attack")
    page.wait_for_load_state("networkidle")
    with server.client() as api:
        names = [k["name"] for k in api.get("/api/v1/keys").json()["keys"]]
    assert "evil-key" not in names


def test_pages_answer_with_a_strict_content_security_policy(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}/sign-in")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"  # once, not doubled
    refused = httpx.post(f"{server.url}/sign-in", headers={"Origin": server.url},
                         data={"api_key": "aiaas-0123456789abcdef-nope"})
    assert refused.status_code == 401 and refused.headers["content-security-policy"] == policy
    api = httpx.get(f"{server.url}/healthz")
    assert "content-security-policy" not in api.headers  # JSON answers go without


def test_no_template_needs_an_inline_script_style_or_handler() -> None:
    """What the policy would block anyway, caught before a browser does: inline code."""
    from aiaas.api.console.render import HERE

    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"\sstyle\s*=", text), template.name


def test_a_predict_only_key_sees_no_admin_page(signed_in: SignIn, server: LiveServer) -> None:
    key = _key(server, "default", "predict", "models:read")
    page = signed_in(key)
    expect(page.get_by_role("link", name="Keys")).to_have_count(0)
    answer = page.goto("/keys")
    assert answer is not None and answer.status == 403
    expect(page.get_by_text("lacks the 'admin' scope")).to_be_visible()
    check_page(page, "forbidden")
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "aiaas_session")
    assert httpx.get(f"{server.url}/api/v1/keys",
                     cookies={"aiaas_session": cookie}).status_code == 403


def test_revoking_the_key_ends_its_sessions(signed_in: SignIn, server: LiveServer) -> None:
    key = _key(server, "default", "predict", "models:read")
    page = signed_in(key)
    key_id = key.split("-")[1]
    admin = signed_in(path="/keys")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.locator(f'form[action="/keys/{key_id}/revoke"] button').click()
    admin.wait_for_url(f"{server.url}/keys")
    page.goto("/models")
    assert "/sign-in" in page.url and "revoked" in page.content()
    with server.client(key) as api:
        assert api.get("/api/v1/me").status_code == 401


def test_create_a_key_shows_its_secret_once(signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in(path="/keys")
    page.get_by_text("Create a key").click()
    page.get_by_label("Name", exact=True).fill("console-made")
    page.get_by_label("Tenant", exact=True).fill("team-c")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("aiaas-")
    assert httpx.get(f"{server.url}/api/v1/me",
                     headers={"Authorization": f"Bearer {secret}"}).json()["tenant"] == "team-c"
    page.goto("/keys")
    assert secret not in page.content()


def test_a_fresh_data_dir_prints_a_one_time_link_to_the_first_admin(
        browser: playwright_api.Browser, tmp_path: Path) -> None:
    live = serve(tmp_path / "data", admin=False)
    try:
        deadline = time.monotonic() + 30
        while "first-admin#token=" not in server_log(live) and time.monotonic() < deadline:
            time.sleep(0.2)
        link = re.search(r"(http://\S+/sign-in/first-admin#token=\S+)", server_log(live))
        assert link is not None, server_log(live)
        context = browser.new_context()
        page = context.new_page()
        page.goto(link.group(1))
        assert "token" not in page.url  # the page's script took it out of the address bar
        page.get_by_role("button", name="Create the first admin and sign in").click()
        expect(page.get_by_text("signed in as the first admin")).to_be_visible()
        assert page.url.endswith("/keys?welcome=1")
        # Spent: a second use is refused.
        again = context.new_page()
        again.goto(link.group(1))
        again.get_by_role("button", name="Create the first admin and sign in").click()
        expect(again.get_by_text("already been used")).to_be_visible()
        context.close()
    finally:
        stop_server(live)


def test_every_page_needs_a_session(server: LiveServer) -> None:
    for path in ("/", "/models", "/usage", "/keys", "/playground"):
        answer = httpx.get(f"{server.url}{path}")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in"), path


def test_the_api_reference_opens_for_a_signed_in_browser(signed_in: SignIn) -> None:
    page = signed_in()
    page.get_by_role("link", name="API reference").click()
    expect(page.get_by_role("button", name="GET /api/v1/models List Models")).to_be_visible(
        timeout=60_000)


def test_sign_in_returns_only_to_a_path_of_this_server(server: LiveServer) -> None:
    for target, landing in (("/usage?days=30", "/usage?days=30"), ("//evil.example/x", "/"),
                            ("/\\evil.example", "/"), ("https://evil.example", "/"),
                            ("/\tevil", "/")):
        answer = httpx.post(f"{server.url}/sign-in", headers={"Origin": server.url},
                            data={"api_key": server.admin_key, "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == landing, target
