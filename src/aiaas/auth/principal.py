"""Who is calling: the tenant, the key and what the key may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiaas.errors import Forbidden


class Scope(StrEnum):
    ADMIN = "admin"
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"
    PREDICT = "predict"


DEFAULT_SCOPES: tuple[Scope, ...] = (Scope.MODELS_READ, Scope.MODELS_WRITE, Scope.PREDICT)
BUILTIN_TENANT = "builtin"
DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def require(self, scope: Scope) -> None:
        """Raise ``Forbidden`` naming the missing scope."""
        if not self.allows(scope):
            raise Forbidden(f"this API key lacks the '{scope}' scope", details={"scope": scope})
