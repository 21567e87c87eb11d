"""API keys: stored hashed, scoped, expiring, revoked at once; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from aiaas.auth.keys import KeyService
from aiaas.auth.principal import Principal, Scope
from aiaas.db.tables import ApiKey, utcnow
from aiaas.errors import Forbidden, Invalid, NotFound, Unauthenticated
from aiaas.services import Services

SYSTEM = Principal.system()


def test_key_authenticates_to_its_tenant_and_scopes(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="app", tenant="clinic")
    principal = services.keys.authenticate(created.secret)
    assert principal == Principal("clinic", created.info.id,
                                  frozenset({"models:read", "models:write", "predict"}))
    assert not principal.allows(Scope.ADMIN)
    with pytest.raises(Forbidden, match="admin"):
        principal.require(Scope.ADMIN)


def test_only_a_hash_is_stored(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="app", tenant="clinic")
    with services.db.session() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.id == created.info.id))
        assert row is not None
        assert created.secret not in row.secret_hash
        assert created.secret.split("-", 2)[2] not in str(row.__dict__)


def test_admin_implies_every_scope(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="ops", tenant="default", admin=True)
    principal = services.keys.authenticate(created.secret)
    assert all(principal.allows(scope) for scope in Scope)


@pytest.mark.parametrize("token", ["", "nope", "aiaas-zz-abc", "aiaas-0123456789abcdef-wrong",
                                   "Bearer aiaas-", "aiaas-0123456789abcdef"])
def test_bad_tokens_are_unauthenticated(services: Services, token: str) -> None:
    with pytest.raises(Unauthenticated):
        services.keys.authenticate(token)


def test_a_tampered_secret_is_refused(services: Services) -> None:
    secret = services.keys.create(SYSTEM, name="app", tenant="clinic").secret
    with pytest.raises(Unauthenticated, match="unknown"):
        services.keys.authenticate(secret[:-2] + ("AA" if not secret.endswith("AA") else "BB"))


def test_revocation_is_immediate_and_listed(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="app", tenant="clinic")
    services.keys.revoke(SYSTEM, created.info.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        services.keys.authenticate(created.secret)
    assert created.info.id not in {k.id for k in services.keys.list(SYSTEM)}
    revoked = {k.id: k for k in services.keys.list(SYSTEM, include_revoked=True)}
    assert revoked[created.info.id].revoked_at is not None
    with pytest.raises(NotFound):
        services.keys.revoke(SYSTEM, "0" * 16)
    with pytest.raises(NotFound):
        services.keys.revoke(SYSTEM, "../../etc/passwd")


def test_expired_keys_are_refused(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="temp", tenant="clinic",
                                   expires_at=utcnow() + timedelta(seconds=60))
    assert services.keys.authenticate(created.secret).tenant == "clinic"
    with services.db.session() as session:
        row = session.get(ApiKey, created.info.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        services.keys.authenticate(created.secret)
    with pytest.raises(Invalid, match="past"):
        services.keys.create(SYSTEM, name="x", tenant="clinic", expires_at=utcnow() - timedelta(days=1))


@pytest.mark.parametrize("tenant", ["", "Upper", "../x", "builtin", "a" * 65, "sp ace"])
def test_tenant_names_are_checked(services: Services, tenant: str) -> None:
    with pytest.raises(Invalid, match="tenant"):
        services.keys.create(SYSTEM, name="x", tenant=tenant)


def test_unknown_scopes_are_refused_by_name(services: Services) -> None:
    with pytest.raises(Invalid, match="root"):
        services.keys.create(SYSTEM, name="x", tenant="clinic", scopes=["predict", "root"])


def test_list_filters_by_tenant(services: Services) -> None:
    services.keys.create(SYSTEM, name="a", tenant="clinic")
    services.keys.create(SYSTEM, name="b", tenant="bank")
    assert {k.tenant for k in services.keys.list(SYSTEM, tenant="bank")} == {"bank"}


def test_a_verified_key_is_remembered_until_revoked_here(services: Services) -> None:
    keys = KeyService(services.db, cache_s=60)
    created = keys.create(SYSTEM, name="app", tenant="clinic")
    assert keys.cached(created.secret) is None
    principal = keys.authenticate(created.secret)
    assert keys.cached(created.secret) == principal
    assert keys.cached(created.secret[:-1] + ("A" if created.secret[-1] != "A" else "B")) is None
    keys.revoke(SYSTEM, created.info.id)
    assert keys.cached(created.secret) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        keys.authenticate(created.secret)


def test_a_revocation_elsewhere_applies_within_the_cache_time(services: Services) -> None:
    keys = KeyService(services.db, cache_s=0.2)
    elsewhere = KeyService(services.db)
    created = keys.create(SYSTEM, name="app", tenant="clinic")
    keys.authenticate(created.secret)
    elsewhere.revoke(SYSTEM, created.info.id)
    assert keys.cached(created.secret) is not None
    time.sleep(0.25)
    assert keys.cached(created.secret) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        keys.authenticate(created.secret)


def test_no_cache_means_every_call_asks_the_database(services: Services) -> None:
    keys = KeyService(services.db, cache_s=0)
    created = keys.create(SYSTEM, name="app", tenant="clinic")
    keys.authenticate(created.secret)
    assert keys.cached(created.secret) is None


def test_only_an_admin_manages_keys(services: Services) -> None:
    """The key service checks the scope itself, whatever route or page calls it."""
    created = services.keys.create(SYSTEM, name="app", tenant="clinic")
    caller = services.keys.authenticate(created.secret)
    for call in (lambda: services.keys.create(caller, name="more"),
                 lambda: services.keys.list(caller),
                 lambda: services.keys.revoke(caller, created.info.id)):
        with pytest.raises(Forbidden, match="'admin' scope"):
            call()
    assert services.keys.authenticate(created.secret) == caller, "nothing was revoked"
    assert [k.name for k in services.keys.list(SYSTEM)] == ["app"], "nothing was created"


def test_a_key_is_made_for_the_admins_own_tenant_unless_another_is_named(
        services: Services) -> None:
    admin = services.keys.authenticate(
        services.keys.create(SYSTEM, name="ops", tenant="clinic", admin=True).secret)
    assert services.keys.create(admin, name="own").info.tenant == "clinic"
    assert services.keys.create(admin, name="theirs", tenant="bank").info.tenant == "bank"
