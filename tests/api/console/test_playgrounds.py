"""The playgrounds in a real browser against a real server and the built-in models: chat streams
into the page and stops, embeddings draw their similarity matrix, classify answers and explains
(a table row, and an image with a tiny uploaded classifier), speech transcribes an espeak-ng
WAV, forecast draws a tenant's forecaster; a predict-only key can use them all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from tests.api.console.conftest import CHROMIUM, SignIn, check_page, playwright_api, watch_policy
from tests.conftest import LiveServer
from tests.runtime.conftest import espeak_wav
from tests.runtime.forecasters import build_forecaster
from tests.runtime.tiny_models import (
    build_onnx_image_classifier,
    build_text_classifier,
    picture,
    tar_gz,
)

expect = playwright_api.expect
Page = playwright_api.Page
SLOW = 120_000
"""Milliseconds to wait for a first answer: the model loads on its first call."""
NOT_YET = "\N{EN DASH}"
"""What a chat statistic shows until the answer ends."""


@pytest.fixture(scope="module", autouse=True)
def chat_loading(server: LiveServer) -> Iterator[None]:
    """The chat model is the slowest to load: its first call starts with the module, so the
    load overlaps the other tests (the chat test comes last and still streams in the page)."""
    def first_call() -> None:
        with server.client() as api:
            api.post("/v1/chat/completions", timeout=300, json={
                "model": "smollm2-135m-instruct", "max_tokens": 1,
                "messages": [{"role": "user", "content": "Hi"}]})

    thread = threading.Thread(target=first_call, daemon=True)
    thread.start()
    yield
    thread.join(timeout=300)


def upload(server: LiveServer, key: str | None, name: str, archive: bytes) -> None:
    with server.client(key) as api:
        answer = api.post(f"/api/v1/models/{name}/versions", content=archive,
                          headers={"Content-Type": "application/octet-stream"})
        assert answer.status_code == 201, answer.text


def open_code(page: Page, tab: str, contains: str) -> None:
    """Open "View code", pick ``tab``: its panel shows ``contains`` and the key variable."""
    page.get_by_text("View code").click()
    page.get_by_role("tab", name=tab).click()
    panel = page.get_by_role("tabpanel")
    expect(panel).to_contain_text(contains)
    expect(panel).to_contain_text("AIAAS_API_KEY")


def test_the_index_lists_each_playground_with_the_models_for_it(signed_in: SignIn) -> None:
    page = signed_in(path="/playground")
    for title in ("Chat", "Embeddings", "Classify", "Speech", "Forecast"):
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="smollm2-135m-instruct")).to_have_attribute(
        "href", "/playground/chat?model=smollm2-135m-instruct")
    expect(page.get_by_role("link", name="breast-cancer-diagnosis")).to_be_visible()
    forecast = page.locator("section", has=page.get_by_role("heading", name="Forecast"))
    expect(forecast).to_contain_text("No model for this task yet")
    check_page(page, "playgrounds")

    answer = page.goto("/playground/nope")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("there is no 'nope' playground")
    answer = page.goto("/playground/chat?model=all-minilm-l6-v2")
    assert answer is not None and answer.status == 422
    expect(page.get_by_role("alert")).to_contain_text("open it in the embeddings playground")


def test_embeddings_draw_the_cosine_matrix(signed_in: SignIn) -> None:
    page = signed_in(path="/playground/embeddings?model=all-minilm-l6-v2")
    page.get_by_role("button", name="Compare").click()
    rows = page.locator("#embedding-matrix tbody tr")
    expect(rows).to_have_count(4, timeout=SLOW)
    for i in range(4):
        cells = rows.nth(i).locator("td")
        expect(cells).to_have_count(4)
        expect(cells.nth(i)).to_have_text("1.00")
    value = lambda i, j: float(rows.nth(i).locator("td").nth(j).text_content() or "nan")  # noqa: E731
    assert value(0, 1) > value(0, 2) and value(2, 3) > value(1, 3)  # guitars, markets
    assert "rgb" in (rows.nth(0).locator("td").nth(0).get_attribute("style") or "")
    open_code(page, "Python (aiaas SDK)", "client.embed(texts")
    check_page(page, "playground-embeddings")


def test_classify_a_table_row_then_explain_it(signed_in: SignIn) -> None:
    page = signed_in(path="/playground/classify?model=breast-cancer-diagnosis")
    expect(page.locator("input.feature")).to_have_count(30)
    page.get_by_role("button", name="Classify").click()  # an empty form: the server names it
    expect(page.get_by_role("alert")).to_contain_text("missing feature", timeout=SLOW)
    row = load_breast_cancer().data[0]
    page.get_by_label("Paste a row").fill(", ".join(str(v) for v in row))
    page.get_by_role("button", name="Fill the form").click()
    expect(page.get_by_label("mean radius", exact=True)).to_have_value(str(row[0]))
    page.get_by_role("button", name="Classify").click()
    result = page.locator("#classify-result")
    expect(result.locator(".bars li")).to_have_count(2, timeout=SLOW)
    expect(result).to_contain_text("malignant")
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#feature-bars li")).to_have_count(30, timeout=SLOW)
    expect(page.locator("#explain-result")).to_contain_text("SHAP for \"malignant\"")
    open_code(page, "Python (tritonclient)", 'InferInput("input"')
    check_page(page, "playground-classify-tabular")


def test_classify_an_image_and_see_the_explanation_overlay(
        signed_in: SignIn, server: LiveServer, tmp_path: Path) -> None:
    manifest = {"task": "image-classification", "labels": ["red", "green", "blue"]}
    upload(server, None, "colours", tar_gz(build_onnx_image_classifier(tmp_path / "colours",
                                                                       manifest=manifest)))
    image = tmp_path / "gradient.png"
    image.write_bytes(picture("PNG", (32, 32)))
    page = signed_in(path="/playground/classify?model=colours")
    page.get_by_label("Image", exact=True).set_input_files(image)
    expect(page.get_by_alt_text("The chosen image: gradient.png")).to_be_visible()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#classify-result .bars li")).to_have_count(3, timeout=SLOW)
    page.get_by_role("button", name="Explain").click()
    overlay = page.locator("#explain-overlay")
    expect(overlay).to_be_visible(timeout=SLOW)
    assert (overlay.get_attribute("src") or "").startswith("data:image/png;base64,iVBOR")
    assert overlay.evaluate("img => img.naturalWidth") > 0
    check_page(page, "playground-classify-image")


def test_classify_a_text_and_colour_its_words(signed_in: SignIn, server: LiveServer,
                                              tmp_path: Path) -> None:
    upload(server, None, "reviews", tar_gz(build_text_classifier(tmp_path / "reviews")))
    page = signed_in(path="/playground/classify?model=reviews")
    page.get_by_label("Text", exact=True).fill("The movie was great fun.")
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#classify-result .bars li")).to_have_count(2, timeout=SLOW)
    page.get_by_role("button", name="Explain").click()
    words = page.locator("#explained-text .word")
    expect(words.first).to_be_visible(timeout=SLOW)
    expect(page.locator("#explained-text")).to_have_text("The movie was great fun.")
    assert words.count() == 5
    assert "rgb" in (words.first.get_attribute("style") or "")
    check_page(page, "playground-classify-text")


def test_speech_transcribes_an_uploaded_wav_with_timestamps(signed_in: SignIn,
                                                            tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    wav.write_bytes(espeak_wav())
    page = signed_in(path="/playground/speech")
    page.get_by_label("Audio file").set_input_files(wav)
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#transcript-text")).to_contain_text("council", ignore_case=True,
                                                          timeout=SLOW)
    segments = page.locator("#segments tbody tr")
    expect(segments.first.locator("td").first).to_have_text("0:00.00")
    assert float((segments.last.locator("td").nth(1).text_content() or "0:0").split(":")[1]) > 2
    # No microphone in this browser: the page says so instead of failing quietly.
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.locator("#record-status")).to_contain_text("microphone")
    open_code(page, "Python (openai)", 'response_format="verbose_json"')
    check_page(page, "playground-speech")


def test_speech_records_from_a_fake_microphone(browser: playwright_api.Browser,
                                               server: LiveServer) -> None:
    """Chromium's fake capture device (a beep) stands in for a microphone: the recording is
    converted to WAV in the page and the server takes it."""
    fake = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream"])
    try:
        context = fake.new_context(base_url=server.url, permissions=["microphone"])
        context.set_default_timeout(60_000)
        page = context.new_page()
        watch_policy(page)
        page.goto("/sign-in?next=/playground/speech")
        page.get_by_label("API key").fill(server.admin_key)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Record", exact=True).click()
        expect(page.locator("#record-status")).to_contain_text("Recording")
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Stop recording").click()
        expect(page.locator("#record-status")).to_contain_text("Recorded")
        expect(page.locator("#audio-preview")).to_be_visible()
        page.get_by_role("button", name="Transcribe").click()
        expect(page.locator("#speech-result")).to_contain_text("s of audio", timeout=SLOW)
        seconds = float(page.locator("#speech-result p.muted").text_content().split(", ")[-1]
                        .split(" s ")[0])
        assert 1.0 <= seconds <= 3.0
        assert not getattr(page, "csp_blocked", [])
    finally:
        fake.close()


def test_forecast_draws_a_tenant_forecaster_with_its_interval(
        signed_in: SignIn, server: LiveServer, tmp_path: Path) -> None:
    key = server.create_key("forecasts")
    page = signed_in(key, path="/playground/forecast")
    expect(page.get_by_text("No model for this task yet.")).to_be_visible()
    check_page(page, "playground-forecast-empty")
    upload(server, key, "load", tar_gz(build_forecaster(tmp_path / "load")))
    page.goto("/playground/forecast")
    expect(page.locator("select[name=model]")).to_have_value("load")
    expect(page.locator("#forecast-chart canvas")).to_have_count(1)  # the stored series
    page.get_by_label("Horizon").fill("2")
    page.get_by_role("button", name="Forecast").click()
    rows = page.locator("#forecast-table tbody tr")
    expect(rows).to_have_count(2, timeout=SLOW)
    expect(rows.first.locator("td").first).to_have_text("2000-03-11")
    expect(page.locator("#forecast-chart canvas")).to_have_count(1)
    legend = page.locator("#forecast-chart .u-legend")
    for name in ("history", "forecast", "lower", "upper"):
        expect(legend).to_contain_text(name)
    page.get_by_label("Newer or corrected points").fill("2000-03-11,1e999")
    page.get_by_role("button", name="Forecast").click()
    expect(page.get_by_role("alert")).to_contain_text("Line 1")
    check_page(page, "playground-forecast")


def test_a_predict_only_key_can_use_the_playgrounds(signed_in: SignIn,
                                                    server: LiveServer) -> None:
    """Without models:read a key cannot list models: it names the one to call."""
    page = signed_in(server.create_key("default", "--scope", "predict"), path="/playground")
    expect(page.get_by_text("cannot list models")).to_be_visible()
    check_page(page, "playgrounds-predict-only")
    card = page.locator("section", has=page.get_by_role("heading", name="Classify"))
    card.get_by_label("Model name").fill("breast-cancer-diagnosis")
    card.get_by_role("button", name="Open").click()
    expect(page.locator("input.feature")).to_have_count(30)
    page.get_by_label("Paste a row").fill(", ".join(str(v) for v in load_breast_cancer().data[1]))
    page.get_by_role("button", name="Fill the form").click()
    page.get_by_role("button", name="Classify").click()
    expect(page.locator("#classify-result .bars li")).to_have_count(2, timeout=SLOW)
    check_page(page, "playground-classify-predict-only")
    page.goto("/playground/embeddings?model=all-minilm-l6-v2")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#embedding-matrix tbody tr")).to_have_count(4, timeout=SLOW)


def test_chat_streams_into_the_page_and_stops(signed_in: SignIn) -> None:
    page = signed_in(path="/playground/chat")
    expect(page.locator("select[name=model]")).to_have_value("smollm2-135m-instruct")
    expect(page.get_by_label("Temperature")).to_have_value("0.2")  # the model's own default
    expect(page.get_by_label("Top p")).to_have_value("0.9")
    check_page(page, "playground-chat")
    page.get_by_label("Max tokens").fill("24")
    page.evaluate("""() => {
        window.seen = [];
        const log = document.getElementById("chat-log");
        new MutationObserver(() => {
            const answers = log.querySelectorAll(".message.assistant .output");
            const last = answers[answers.length - 1];
            window.seen.push([last ? last.textContent.length : 0,
                              document.getElementById("stat-finish").textContent]);
        }).observe(log, {subtree: true, childList: true, characterData: true});
    }""")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#stat-finish")).not_to_have_text(NOT_YET, timeout=SLOW)
    seen = page.evaluate("window.seen")
    growing = sorted({length for length, finish in seen if finish == NOT_YET and length > 0})
    assert len(growing) >= 2, seen  # tokens appeared one after another before the end
    assert page.locator("#stat-finish").text_content() in ("stop", "length")
    assert int(page.locator("#stat-completion").text_content() or "0") > 0
    assert float(page.locator("#stat-speed").text_content() or "0") > 0
    expect(page.locator("#chat-status")).to_contain_text("tokens/s")
    expect(page.locator(".message")).to_have_count(2)

    # A long answer, stopped as soon as it starts: the text stays, the page is ready again.
    page.get_by_label("Max tokens").fill("400")
    page.get_by_label("Your message").fill("Tell me a very long story about a dragon.")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".message.assistant .output").nth(1)
    expect(answer).not_to_be_empty()
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(page.locator("#chat-status")).to_contain_text("Stopped")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    stopped_at = len(answer.text_content() or "")
    page.wait_for_timeout(800)
    assert len(answer.text_content() or "") == stopped_at
    open_code(page, "Python (openai)", "chat.completions.create")
    check_page(page, "playground-chat-answered")
