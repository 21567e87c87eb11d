"""``TenantService`` and its ``LimitService`` on SQLite and PostgreSQL, called as the API and
the CLI call them: scopes, the checks of names and values, the cap of keys and models under
their tenant, and what the in-memory directory then answers."""

from __future__ import annotations

import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.errors import Conflict, Forbidden, Invalid, NotFound
from aiaas.services import Services
from aiaas.tenants import RateLimits, TenantService

SYSTEM = Principal.system()
CLINIC_READER = Principal("clinic", "0" * 16, frozenset({Scope.MODELS_READ}))


def test_tenants_are_created_updated_and_disabled(services: Services) -> None:
    tenants = services.tenants
    tenants.create(SYSTEM, name="clinic", display_name="  City clinic ")
    assert tenants.get(SYSTEM, "clinic").display_name == "City clinic"
    with pytest.raises(Conflict):
        tenants.create(SYSTEM, name="clinic")
    with pytest.raises(Invalid) as bad:
        tenants.create(SYSTEM, name="x" * 65)
    assert bad.value.field == "name"
    with pytest.raises(Invalid) as long_name:
        tenants.update(SYSTEM, "clinic", display_name="x" * 201)
    assert long_name.value.field == "display_name"
    with pytest.raises(Forbidden):
        tenants.create(CLINIC_READER, name="other")
    assert tenants.get(CLINIC_READER, "clinic").name == "clinic"
    with pytest.raises(NotFound):
        tenants.get(CLINIC_READER, "default")

    tenants.create(SYSTEM, name="default")
    tenants.update(SYSTEM, "default", disabled=True)  # the server itself may disable any
    assert [t.name for t in tenants.list(SYSTEM, include_disabled=False)] == ["clinic"]
    with pytest.raises(Invalid):
        tenants.update(SYSTEM, "clinic", disabled="yes")


async def test_the_directory_refuses_disabled_tenants_and_finds_a_calls_limits(
        services: Services) -> None:
    tenants, directory = services.tenants, services.tenants.directory
    key = services.keys.create(SYSTEM, name="k", tenant="clinic").info.id
    await directory.check_enabled("clinic")
    assert directory.applicable("clinic", key, "m") == []

    tenants.update(SYSTEM, "clinic", disabled=True)
    with pytest.raises(Forbidden) as refused:
        await directory.check_enabled("clinic")
    assert refused.value.code == "tenant_disabled"

    tenants.limits.set(SYSTEM, tenant="clinic", requests_per_minute=10, concurrent_requests=4)
    tenants.limits.set(SYSTEM, key_id=key, requests_per_minute=5)
    found = directory.applicable("clinic", key, "m")
    assert [(s.scope, s.id) for s in found] == [("key", f"k:{key}"), ("tenant", "t:clinic")]
    assert found[1].limits == RateLimits(requests_per_minute=10, concurrent_requests=4)
    assert directory.applicable("school", "f" * 16, "m") == []


def test_lowering_a_tenant_limit_lowers_its_keys_and_models(services: Services) -> None:
    limits = services.tenants.limits
    key = services.keys.create(SYSTEM, name="k", tenant="clinic").info.id
    limits.set(SYSTEM, tenant="clinic", requests_per_minute=100, tokens_per_minute=1000)
    limits.set(SYSTEM, key_id=key, requests_per_minute=90, tokens_per_minute=500)
    with pytest.raises(Invalid) as above:
        limits.set(SYSTEM, key_id=key, tokens_per_minute=1001)
    assert above.value.field == "tokens_per_minute"
    limits.set(SYSTEM, tenant="clinic", requests_per_minute=60)
    capped = limits.of_key(SYSTEM, key)
    assert (capped.requests_per_minute, capped.tokens_per_minute) == (60, 500)
    limits.clear(SYSTEM, tenant="clinic")
    assert limits.of_tenant(SYSTEM, "clinic")[0].updated_at is None
    with pytest.raises(NotFound):
        limits.of_tenant(SYSTEM, "nobody")
    with pytest.raises(NotFound):
        limits.of_key(CLINIC_READER.__class__("school", "1" * 16, frozenset()), key)


def test_a_tenant_service_elsewhere_sees_the_same_records(services: Services) -> None:
    """Two services on one database (two server processes): records are shared."""
    services.tenants.create(SYSTEM, name="clinic")
    other = TenantService(services.db)
    assert [t.name for t in other.list(SYSTEM)] == ["clinic"]
