"""Who is calling: the tenant, the key and what the key may do.

Every service method a caller reaches with a key takes the ``Principal`` and checks its scope
itself (``require``), so authorisation does not depend on the route (or console page) in front.
The server acting for itself (the data-dir CLI, built-in registration, a training job promoting
its result) uses ``Principal.system``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiaas.errors import Forbidden


class Scope(StrEnum):
    ADMIN = "admin"
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    PREDICT = "predict"
    AUDIT_READ = "audit:read"
    """Read the audit log: a key's own tenant's records (an admin key reads every tenant's)."""


DEFAULT_SCOPES: tuple[Scope, ...] = (Scope.MODELS_READ, Scope.MODELS_WRITE, Scope.PREDICT)
BUILTIN_TENANT = "builtin"
DEFAULT_TENANT = "default"
SYSTEM_KEY_ID = "system"
"""The key id of ``Principal.system``; no API key has it (theirs are 16 hex digits)."""


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    key_id: str
    scopes: frozenset[str]

    @classmethod
    def system(cls, tenant: str = DEFAULT_TENANT) -> Principal:
        """The server acting for itself in ``tenant``, with every scope; never from a request."""
        return cls(tenant=tenant, key_id=SYSTEM_KEY_ID, scopes=frozenset({Scope.ADMIN}))

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: Scope) -> None:
        """Raise ``Forbidden`` naming the missing scope."""
        if not self.allows(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope", details={"scope": scope})

    def require_any(self, *scopes: Scope) -> None:
        """Raise ``Forbidden`` naming the first of ``scopes`` unless the key has one of them."""
        if not any(self.allows(scope) for scope in scopes):
            self.require(scopes[0])
