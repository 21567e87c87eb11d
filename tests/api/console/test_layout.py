"""The console works with the keyboard alone and fits a phone's width."""

from __future__ import annotations

from tests.api.console.conftest import SignIn, playwright_api
from tests.conftest import LiveServer

expect = playwright_api.expect
WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => `${e.tagName}.${e.className}#${e.id}: ${e.textContent.slice(0, 40)}`)"""


def test_sign_in_and_navigate_with_the_keyboard_alone(browser: playwright_api.Browser,
                                                      server: LiveServer) -> None:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/sign-in")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "api_key":
            break
    assert page.evaluate("document.activeElement.id") == "api_key"
    page.keyboard.type(server.admin_key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Models":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"{server.url}/models")
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused is not None
    context.close()


def test_pages_fit_a_phone(signed_in: SignIn, server: LiveServer) -> None:
    page = signed_in()
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/models", "/models/all-minilm-l6-v2", "/usage", "/keys"):
        page.goto(path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow, page.evaluate(WIDE))
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
