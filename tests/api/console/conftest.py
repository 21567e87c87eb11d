"""Browser tests: Debian's Chromium driven by Playwright against a real server.

One server for the package (SQLite data dir with the built-in models), one browser per module (sync
Playwright runs its own event loop, so it is kept out of the async tests' way). ``signed_in``
opens a fresh browser context (its own cookies) and signs in with a key through the form.
``check_page`` runs axe-core in the page and fails on serious or critical violations, and saves
a screenshot (into ``AIAAS_SCREENSHOT_DIR`` when set: ``docs/console`` holds the committed ones).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for every console test (starting one takes 20-40 s here), with the embedded
    training worker so jobs run; tests name what they make uniquely."""
    live = start_server(tmp_path_factory.mktemp("console") / "data", AIAAS_EMBEDDED_WORKER="true")
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


SignIn = Callable[..., playwright_api.Page]


@pytest.fixture
def signed_in(browser: playwright_api.Browser, server: LiveServer) -> Iterator[SignIn]:
    contexts: list[playwright_api.BrowserContext] = []

    def sign_in(key: str | None = None, path: str = "/") -> playwright_api.Page:
        context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        watch_policy(page)
        page.goto(f"/sign-in?next={path}")
        page.get_by_label("API key").fill(key or server.admin_key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}{path}")
        return page

    yield sign_in
    for context in contexts:
        context.close()


def watch_policy(page: playwright_api.Page) -> None:
    """Collect what the Content-Security-Policy blocked on this page (``check_page`` asserts none)."""
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.csp_blocked = blocked  # type: ignore[attr-defined]


def check_page(page: playwright_api.Page, name: str) -> None:
    """axe-core finds no serious or critical violation, the page's policy blocked nothing, and a
    full-page screenshot is saved."""
    from axe_playwright_python.sync_playwright import Axe

    assert not getattr(page, "csp_blocked", []), page.csp_blocked  # type: ignore[attr-defined]

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "\n".join(f"{v['id']} ({v['impact']}): {v['help']} at "
                              f"{[n['target'] for n in v['nodes']][:3]}" for v in bad)
    target = os.environ.get("AIAAS_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)
