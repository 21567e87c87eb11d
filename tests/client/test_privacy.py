"""The SDK's PII calls against a real server: analysis, policies (sync and async), and a
predict answer that carries the policy's findings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aiaas.builtin import EMBEDDER
from aiaas.client import AsyncClient, BadRequestError, Client, PermissionDeniedError
from tests.conftest import LiveServer


def test_analyze_and_policies(admin: Client, client: Client, pii_model: Path) -> None:
    [found] = client.analyze_pii(["Write to ann.lee@example.org"])
    assert [(e.type, e.start, e.end) for e in found.entities] == [("EMAIL_ADDRESS", 9, 28)]
    assert found.redacted == "Write to <EMAIL_ADDRESS_1>"
    name = f"sdk-p-{uuid.uuid4().hex[:6]}"
    admin.create_tenant(name)
    policy = admin.set_privacy_policy("detect", tenant=name)
    assert (policy.mode, policy.source) == ("detect", "tenant")
    assert [p.mode for p in admin.get_privacy_policies(name)] == ["detect"]
    with pytest.raises(PermissionDeniedError):
        client.set_privacy_policy("off", tenant=name)
    with pytest.raises(ValueError, match="unknown mode"):
        admin.set_privacy_policy("hide", tenant=name)
    with pytest.raises(BadRequestError):
        admin.set_privacy_policy("redact", tenant=name, entities=["SHOE_SIZE"])


async def test_detect_findings_reach_the_prediction(live_server: LiveServer,
                                                    pii_model: Path) -> None:
    name = f"sdk-p-{uuid.uuid4().hex[:6]}"
    async with AsyncClient(live_server.url, api_key=live_server.admin_key) as admin:
        created = await admin.create_key(name="pii", tenant=name)
        await admin.set_privacy_policy("detect", key_id=created.id)
    async with AsyncClient(live_server.url, api_key=created.secret) as own:
        prediction = await own.predict(EMBEDDER, ["Call Ann Lee tomorrow"])
    assert prediction.privacy is not None
    assert [(e["type"], e["start"]) for e in prediction.privacy["inputs"]] == [("PERSON", 5)]
