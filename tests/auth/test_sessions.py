"""Console sessions: bound to a key, ended by sign-out, revocation, expiry; one-time first-admin
links; only hashes stored. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from aiaas.auth.principal import Principal, Scope
from aiaas.auth.sessions import ConsoleSessions
from aiaas.db.console_tables import ConsoleSession, SignInLink
from aiaas.db.tables import utcnow
from aiaas.errors import Forbidden, Unauthenticated
from aiaas.services import Services

SYSTEM = Principal.system()


def test_a_session_acts_as_its_key_and_stores_only_hashes(services: Services) -> None:
    created = services.keys.create(SYSTEM, name="web", tenant="clinic", scopes=["predict"])
    signed = services.sessions.sign_in(f"  {created.secret}\n")  # pasted with spaces
    view = services.sessions.resolve(signed.token)
    assert view.principal == Principal("clinic", created.info.id, frozenset({"predict"}))
    with services.db.session() as session:
        row = session.scalars(select(ConsoleSession)).one()
        assert signed.token not in row.token_hash and created.secret not in str(vars(row))
    view.check_csrf(signed.view.csrf_token)
    for wrong in (None, "", "x" + signed.view.csrf_token):
        with pytest.raises(Forbidden, match="CSRF"):
            view.check_csrf(wrong)


def test_a_bad_key_opens_no_session(services: Services) -> None:
    with pytest.raises(Unauthenticated, match="malformed"):
        services.sessions.sign_in("hello")
    with pytest.raises(Unauthenticated, match="not signed in"):
        services.sessions.resolve("no-such-session")


def test_sign_out_revocation_and_expiry_end_a_session(services: Services) -> None:
    sessions = ConsoleSessions(services.db, services.keys, lifetime_s=3600, cache_s=60)
    created = services.keys.create(SYSTEM, name="web")
    out, revoked, old = (sessions.sign_in(created.secret) for _ in range(3))
    for signed in (out, revoked, old):
        sessions.resolve(signed.token)  # cached from here on
    sessions.sign_out(out.token)
    with pytest.raises(Unauthenticated, match="not signed in"):
        sessions.resolve(out.token)
    with services.db.session() as session:
        session.execute(update(ConsoleSession).where(
            ConsoleSession.token_hash == _digest(old.token)).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    sessions._cache.clear()
    with pytest.raises(Unauthenticated, match="expired"):
        sessions.resolve(old.token)
    sessions.resolve(revoked.token)
    assert sessions.cached(revoked.token) is not None  # no database on the next request
    services.keys.revoke(SYSTEM, created.info.id)  # drops the cached session at once
    assert sessions.cached(revoked.token) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        sessions.resolve(revoked.token)


def test_the_first_admin_link_works_once_and_only_on_a_fresh_data_dir(services: Services) -> None:
    token = services.sessions.first_admin_link()
    assert token is not None
    with services.db.session() as session:
        assert session.scalars(select(SignInLink)).one().token_hash != token
    signed = services.sessions.redeem_link(token)
    assert signed.view.principal.allows(Scope.ADMIN)
    assert services.sessions.resolve(signed.token).principal.tenant == "default"
    with pytest.raises(Unauthenticated, match="already been used"):
        services.sessions.redeem_link(token)
    assert services.sessions.first_admin_link() is None  # a key exists now
    with pytest.raises(Unauthenticated, match="unknown"):
        services.sessions.redeem_link("guess")


def test_an_expired_link_or_one_minted_before_a_key_is_refused(services: Services) -> None:
    expired = services.sessions.first_admin_link(lifetime_s=-1)
    stale = services.sessions.first_admin_link()
    assert expired and stale
    with pytest.raises(Unauthenticated, match="expired"):
        services.sessions.redeem_link(expired)
    services.keys.create(SYSTEM, name="made by the CLI", admin=True)
    with pytest.raises(Unauthenticated, match="exists already"):
        services.sessions.redeem_link(stale)


def _digest(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()
