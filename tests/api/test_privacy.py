"""PII policies on a real server over real HTTP, with the real analyzer (Presidio and the built
name model) and the built-in models: the analyze endpoint, policies per key and tenant (admin
only, audited), and each policy on native predict, ``/v1`` (chat streaming and not, embeddings,
transcriptions) and ``/v2``. ``block`` names types and positions, never values; an analyzer
that cannot load refuses calls under ``redact`` (503) and not under ``off``; the server's logs
hold none of the personal data sent."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from aiaas.builtin import CHAT, EMBEDDER, SPEECH
from aiaas.config import Settings
from aiaas.crypto.sealed import read_header
from aiaas.training import wiring
from tests.conftest import LiveServer, start_server, stop_server
from tests.runtime.conftest import espeak_wav

NAME, PHONE, EMAIL = "Margaret Oduya", "+1 415 555 0132", "m.oduya@example.org"
PII_TEXT = f"Please call {NAME} on {PHONE} or write to {EMAIL} about the lab results."
REDACTED = ("Please call <PERSON_1> on <PHONE_NUMBER_1> or write to <EMAIL_ADDRESS_1> about the "
            "lab results.")
VALUES = (NAME, "Oduya", PHONE, "555 0132", EMAIL)
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@pytest.fixture(scope="module")
def server(live_server: LiveServer, pii_model: Path) -> LiveServer:
    return live_server


def policy_key(server: LiveServer, mode: str, tenant: str | None = None) -> str:
    """A new key of a new tenant (or ``tenant``) with its own policy set through the API."""
    with server.client() as admin:
        created = admin.post("/api/v1/keys", json={"name": f"pii-{mode}", "tenant": tenant
                                                    or f"pii-{uuid.uuid4().hex[:8]}"})
        assert created.status_code == 201, created.text
        secret: str = created.json()["secret"]
        response = admin.put(f"/api/v1/keys/{secret.split('-')[1]}/privacy", json={"mode": mode})
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "key"
    return secret


def embed(server: LiveServer, key: str, text: str) -> httpx.Response:
    with server.client(key) as client:
        return client.post(f"/api/v1/models/{EMBEDDER}/predict", json={"inputs": [text]})


def oai(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=300)


def test_analyze_lists_entities_and_redacts(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post("/api/v1/privacy/analyze",
                               json={"texts": [PII_TEXT, f"{NAME} again", "no personal data"]})
    assert response.status_code == 200, response.text
    first, second, third = response.json()["results"]
    assert [(e["type"], PII_TEXT[e["start"]:e["end"]]) for e in first["entities"]] == [
        ("PERSON", NAME), ("PHONE_NUMBER", PHONE), ("EMAIL_ADDRESS", EMAIL)]
    assert first["redacted"] == REDACTED
    assert second["redacted"] == "<PERSON_1> again"  # one placeholder per value in a call
    assert third == {"entities": [], "redacted": "no personal data"}


@pytest.mark.parametrize(("body", "field"), [
    ({"texts": "one text"}, "texts"), ({"texts": []}, "texts"), ({"texts": [1]}, "texts"),
    ({"texts": ["x"], "entities": ["NOPE"]}, "entities"),
])
def test_analyze_refuses_bad_input(server: LiveServer, body: dict[str, Any], field: str) -> None:
    with server.client() as client:
        response = client.post("/api/v1/privacy/analyze", json=body)
    assert response.status_code == 422, response.text
    assert field in response.text
    assert httpx.post(f"{server.url}/api/v1/privacy/analyze",
                      json={"texts": ["x"]}).status_code == 401


def test_policies_are_admin_only_checked_and_audited(server: LiveServer) -> None:
    tenant = f"pii-{uuid.uuid4().hex[:8]}"
    key = policy_key(server, "detect", tenant)
    with server.client() as admin, server.client(key) as own:
        assert own.put(f"/api/v1/tenants/{tenant}/privacy",
                       json={"mode": "off"}).status_code == 403
        bad = admin.put(f"/api/v1/tenants/{tenant}/privacy", json={"mode": "hide"})
        assert bad.status_code == 422 and "mode" in bad.text
        bad = admin.put(f"/api/v1/tenants/{tenant}/privacy",
                        json={"mode": "redact", "entities": ["SHOE_SIZE"]})
        assert bad.status_code == 422 and "SHOE_SIZE" in bad.text
        assert admin.put("/api/v1/tenants/nobody-here/privacy",
                         json={"mode": "redact"}).status_code == 404
        set_ = admin.put(f"/api/v1/tenants/{tenant}/privacy",
                         json={"mode": "block", "entities": ["US_SSN", "CREDIT_CARD"]})
        assert set_.status_code == 200, set_.text
        listed = own.get(f"/api/v1/tenants/{tenant}/privacy").json()["policies"]
        assert [(p["key_id"], p["mode"], p["entities"]) for p in listed] == [
            (None, "block", ["CREDIT_CARD", "US_SSN"]), (key.split("-")[1], "detect", None)]
        assert admin.delete(f"/api/v1/tenants/{tenant}/privacy").status_code == 204
        listed = own.get(f"/api/v1/tenants/{tenant}/privacy").json()["policies"]
        assert (listed[0]["mode"], listed[0]["source"]) == ("off", "default")
        audit = admin.get("/api/v1/audit", params={"tenant": tenant}).json()["data"]
        assert {"privacy.set", "privacy.clear"} <= {r["action"] for r in audit}


def test_block_names_types_and_positions_never_values(server: LiveServer) -> None:
    key = policy_key(server, "block")
    native = embed(server, key, PII_TEXT)
    assert native.status_code == 422, native.text
    error = native.json()["error"]
    assert error["code"] == "pii_detected"
    assert [(e["type"], e["start"], e["end"]) for e in error["details"]["entities"]] == [
        ("PERSON", 12, 26), ("PHONE_NUMBER", 30, 45), ("EMAIL_ADDRESS", 58, 77)]
    assert "inputs[0]" in error["message"]
    with oai(server, key) as client, pytest.raises(openai.BadRequestError) as raised:
        client.embeddings.create(model=EMBEDDER, input=PII_TEXT)
    assert raised.value.code == "pii_detected"
    v2 = v2_embed(server, key, PII_TEXT)
    assert v2.status_code in (400, 422), v2.text
    for response_text in (native.text, str(raised.value.body), v2.text):
        assert not any(value in response_text for value in VALUES), response_text
    assert embed(server, key, "the lab results are ready").status_code == 200


def v2_embed(server: LiveServer, key: str, text: str) -> httpx.Response:
    """An embedding through the KServe v2 protocol (what tritonclient sends)."""
    with server.client(key) as client:
        return client.post(f"/v2/models/{EMBEDDER}/infer", json={"inputs": [
            {"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]})


def v2_vector(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.array(response.json()["outputs"][0]["data"])


def test_redact_embeds_the_placeholder_text(server: LiveServer) -> None:
    redacted = embed(server, policy_key(server, "redact"), PII_TEXT)
    plain = embed(server, policy_key(server, "off"), REDACTED)
    original = embed(server, policy_key(server, "off"), PII_TEXT)
    assert redacted.status_code == plain.status_code == 200, redacted.text
    vector = np.array(redacted.json()["outputs"][0]["embedding"])
    assert np.allclose(vector, plain.json()["outputs"][0]["embedding"], atol=1e-5)
    assert not np.allclose(vector, original.json()["outputs"][0]["embedding"], atol=1e-3)
    assert redacted.json()["privacy"]["inputs"][0]["type"] == "PERSON"
    with oai(server, policy_key(server, "redact")) as client:
        v1 = client.embeddings.create(model=EMBEDDER, input=PII_TEXT)
    assert np.allclose(v1.data[0].embedding, vector, atol=1e-5)
    assert np.allclose(v2_vector(v2_embed(server, policy_key(server, "redact"), PII_TEXT)),
                       vector, atol=1e-5)


def test_detect_lists_spans_and_changes_nothing(server: LiveServer) -> None:
    detected = embed(server, policy_key(server, "detect"), PII_TEXT)
    original = embed(server, policy_key(server, "off"), PII_TEXT)
    assert detected.status_code == 200, detected.text
    assert np.allclose(detected.json()["outputs"][0]["embedding"],
                       original.json()["outputs"][0]["embedding"], atol=1e-5)
    privacy = detected.json()["privacy"]
    assert privacy["policy"] == "detect"
    assert [(e["field"], e["type"]) for e in privacy["inputs"]] == [
        ("inputs[0]", "PERSON"), ("inputs[0]", "PHONE_NUMBER"), ("inputs[0]", "EMAIL_ADDRESS")]
    assert "privacy" not in original.json()
    assert np.allclose(v2_vector(v2_embed(server, policy_key(server, "detect"), PII_TEXT)),
                       original.json()["outputs"][0]["embedding"], atol=1e-5)


ECHO = [{"role": "user", "content": f"Repeat after me: Hello, {NAME}! Good morning, {NAME}."}]


def chat(server: LiveServer, key: str, messages: list[dict[str, str]], stream: bool) -> str:
    with oai(server, key) as client:
        if stream:
            chunks = client.chat.completions.create(
                model=CHAT, messages=messages, temperature=0,  # type: ignore[arg-type]
                max_tokens=48, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reply = client.chat.completions.create(
            model=CHAT, messages=messages, temperature=0,  # type: ignore[arg-type]
            max_tokens=48)
        return reply.choices[0].message.content or ""


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_chat_pseudonymize_restores_what_redact_hides(server: LiveServer, stream: bool) -> None:
    redacted = chat(server, policy_key(server, "redact"), ECHO, stream)
    restored = chat(server, policy_key(server, "pseudonymize"), ECHO, stream)
    assert "<PERSON_1>" in redacted and "Oduya" not in redacted, redacted
    assert "<PERSON_" not in restored and NAME in restored, restored
    assert restored == redacted.replace("<PERSON_1>", NAME)


WRITE_EMAIL = [{"role": "user", "content": "Write a contact line with an email address for the "
                "Acme support team."}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_generated_pii_is_redacted_on_the_way_out(server: LiveServer, stream: bool) -> None:
    plain = chat(server, policy_key(server, "off"), WRITE_EMAIL, stream)
    assert EMAIL_RE.search(plain), f"the model wrote no email address to redact: {plain!r}"
    redacted = chat(server, policy_key(server, "redact"), WRITE_EMAIL, stream)
    assert not EMAIL_RE.search(redacted) and "<EMAIL_ADDRESS_1>" in redacted, redacted


SPOKEN = "My name is John Smith. Please call me back tomorrow."


@pytest.fixture(scope="module")
def spoken() -> bytes:
    return espeak_wav(SPOKEN)


def test_transcripts_are_redacted(server: LiveServer, spoken: bytes) -> None:
    def transcribe(key: str) -> dict[str, Any]:
        with server.client(key) as client:
            response = client.post(f"/api/v1/models/{SPEECH}/predict",
                                   files={"file": ("speech.wav", spoken, "audio/wav")},
                                   data={"parameters": '{"timestamps": true}'})
        assert response.status_code == 200, response.text
        output: dict[str, Any] = response.json()["outputs"][0]
        return output

    plain = transcribe(policy_key(server, "off"))
    assert "John Smith" in plain["text"], plain["text"]
    redacted = transcribe(policy_key(server, "redact"))
    assert "Smith" not in str(redacted) and "<PERSON_1>" in redacted["text"], redacted
    assert "<PERSON_1>" in redacted["segments"][0]["text"]
    key = policy_key(server, "redact")
    with oai(server, key) as client:
        text = client.audio.transcriptions.create(
            model=SPEECH, file=("speech.wav", spoken, "audio/wav"), response_format="text")
    assert "Smith" not in str(text) and "<PERSON_1>" in str(text)


@pytest.fixture(scope="module")
def broken_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose name model directory holds no model: the analyzer cannot load."""
    data = tmp_path_factory.mktemp("pii-broken") / "data"
    missing = data.parent / "no-model"
    missing.mkdir()
    server = start_server(data, AIAAS_PII_MODEL_DIR=str(missing), AIAAS_PII_POLICY="redact",
                          AIAAS_LOG_LEVEL="INFO")
    yield server
    stop_server(server)


def test_an_analyzer_that_cannot_run_refuses_redact_calls(broken_server: LiveServer) -> None:
    refused = embed(broken_server, broken_server.admin_key, PII_TEXT)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "privacy_unavailable"
    assert refused.headers.get("retry-after")
    off = policy_key(broken_server, "off")
    assert embed(broken_server, off, PII_TEXT).status_code == 200


def test_logs_hold_no_personal_data(server: LiveServer, broken_server: LiveServer) -> None:
    for live in (server, broken_server):
        port = live.url.rsplit(":", 1)[1]
        log = (live.data_dir.parent / f"server-{port}.log").read_text(errors="replace")
        assert log.strip() or live is server
        for value in (*VALUES, "John Smith", "Smith"):
            assert value not in log, f"{value!r} in {live.url}'s log"


CSV = ("note,label\n"
       f"\"{PII_TEXT}\",urgent\n"
       "\"Ann Lee asked for her results, call 020 7946 0018\",urgent\n"
       "\"results are fine, nothing to do\",routine\n"
       "\"the clinic opens at nine\",routine\n")


def test_dataset_upload_redacts_before_storing(server: LiveServer) -> None:
    key = policy_key(server, "off")
    with server.client(key) as client:
        def upload(name: str, pii: str) -> httpx.Response:
            return client.post("/api/v1/datasets", data={"name": name, "label": "label",
                                                         "pii": pii},
                               files={"file": ("notes.csv", CSV.encode(), "text/csv")})

        assert upload("bad-pii", "hide").status_code == 422
        reported = upload("notes-report", "report")
        assert reported.status_code == 201, reported.text
        redacted = upload("notes-redacted", "redact")
        assert redacted.status_code == 201, redacted.text
    report = redacted.json()["stats"]["pii"]
    assert report["columns"]["note"]["rows_with_pii"] == report["rows_with_pii"] == 2
    assert report["columns"]["note"]["entities"] == {
        "EMAIL_ADDRESS": 1, "PERSON": 2, "PHONE_NUMBER": 2}
    assert reported.json()["stats"]["pii"]["columns"] == report["columns"]
    stored = server.data_dir / "datasets" / redacted.json()["id"]
    sealed = b"".join(path.read_bytes() for path in stored.rglob("*") if path.is_file())
    assert not any(value.encode() in sealed for value in (*VALUES, "Ann Lee", "7946 0018"))
    with (stored / "original.csv").open("rb") as handle:  # sealed: read it with its key
        header = read_header(handle, "original.csv")
    assert header is not None
    core = wiring.build(Settings(data_dir=server.data_dir, builtin_models=False))
    content = core.vault.read_bytes(stored / "original.csv", header.tenant, header.purpose)
    core.db.dispose()
    assert b"<PERSON_1>" in content
    assert not any(value.encode() in content for value in (*VALUES, "Ann Lee", "7946 0018"))
    assert redacted.json()["rows"] == 4 and redacted.json()["format"] == "csv"
