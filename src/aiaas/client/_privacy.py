"""PII analysis and policies in ``Client`` and ``AsyncClient``: the calls, their results and
the two method mixins."""

from __future__ import annotations

from typing import Any

from aiaas.client._calls import Call, many, one, segment
from aiaas.client._models import _Result
from aiaas.client._sending import AsyncSender, SyncSender

MODES = ("off", "detect", "redact", "block", "pseudonymize")


class PiiEntity(_Result):
    type: str
    start: int
    end: int
    score: float


class PiiAnalysis(_Result):
    """One text's PII: the entities found and the text with typed placeholders."""

    entities: list[PiiEntity]
    redacted: str


class PrivacyPolicy(_Result):
    """The PII policy of a tenant (``key_id`` and ``model`` None), a key, or a tenant's calls to
    one model; ``source`` says where the policy in force was set (``default``: the server's)."""

    tenant: str
    key_id: str | None = None
    model: str | None = None
    mode: str
    entities: list[str] | None = None
    source: str


def analyze_pii(texts: list[str], entities: list[str] | None) -> Call[list[PiiAnalysis]]:
    return Call("POST", "/api/v1/privacy/analyze", many(PiiAnalysis, "results"),
                json={"texts": texts, "entities": entities})


def _policy_path(tenant: str | None, key_id: str | None) -> str:
    if (tenant is None) == (key_id is None):
        raise ValueError("give either tenant or key_id")
    if key_id is not None:
        return f"/api/v1/keys/{segment(key_id)}/privacy"
    return f"/api/v1/tenants/{segment(str(tenant))}/privacy"


def set_privacy_policy(mode: str | None, *, tenant: str | None, key_id: str | None,
                       model: str | None, entities: list[str] | None) -> Call[PrivacyPolicy]:
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    body: dict[str, Any] = {"mode": mode, "entities": entities, "model": model}
    return Call("PUT", _policy_path(tenant, key_id), one(PrivacyPolicy), json=body)


def get_privacy_policies(tenant: str) -> Call[list[PrivacyPolicy]]:
    return Call("GET", _policy_path(tenant, None), many(PrivacyPolicy, "policies"))


class PrivacyMethods(SyncSender):
    def analyze_pii(self, texts: list[str], *, entities: list[str] | None = None
                    ) -> list[PiiAnalysis]:
        """The PII in each text and the text redacted (nothing is stored or logged)."""
        return self._send(analyze_pii(texts, entities))

    def set_privacy_policy(self, mode: str | None, *, tenant: str | None = None,
                           key_id: str | None = None, model: str | None = None,
                           entities: list[str] | None = None) -> PrivacyPolicy:
        """Admin only. ``mode``: off, detect, redact, block or pseudonymize (None removes the
        policy); of ``tenant`` (or its calls to ``model``) or of the key ``key_id``."""
        return self._send(set_privacy_policy(mode, tenant=tenant, key_id=key_id, model=model,
                                             entities=entities))

    def get_privacy_policies(self, tenant: str) -> list[PrivacyPolicy]:
        """The tenant's policy first, then those per model and per key."""
        return self._send(get_privacy_policies(tenant))


class AsyncPrivacyMethods(AsyncSender):
    async def analyze_pii(self, texts: list[str], *, entities: list[str] | None = None
                          ) -> list[PiiAnalysis]:
        return await self._send(analyze_pii(texts, entities))

    async def set_privacy_policy(self, mode: str | None, *, tenant: str | None = None,
                                 key_id: str | None = None, model: str | None = None,
                                 entities: list[str] | None = None) -> PrivacyPolicy:
        return await self._send(set_privacy_policy(mode, tenant=tenant, key_id=key_id,
                                                   model=model, entities=entities))

    async def get_privacy_policies(self, tenant: str) -> list[PrivacyPolicy]:
        return await self._send(get_privacy_policies(tenant))
