"""What the tenant service hands out: tenants and limits as the API shows them, and the checks
of a limit's values (a 422 naming the field)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ConfigDict

from aiaas.db.tenant_tables import LIMIT_FIELDS, RateLimitRow, TenantRow
from aiaas.errors import Invalid

MAX_LIMIT = 1_000_000_000
"""The largest value any limit takes; more is a typo, not a policy."""


@dataclass(frozen=True, slots=True)
class TenantInfo:
    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    name: str
    display_name: str
    disabled: bool
    """A disabled tenant's keys get 403 ``tenant_disabled``; nothing of it is deleted."""
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: TenantRow) -> TenantInfo:
        return cls(name=row.name, display_name=row.display_name, disabled=row.disabled,
                   created_at=row.created_at, updated_at=row.updated_at)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits of one subject (tenant, key, or a tenant's use of one model); None: none."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    """Prompt plus completion tokens; a generation reserves prompt + ``max_tokens``."""
    items_per_minute: int | None = None
    audio_seconds_per_minute: int | None = None
    concurrent_requests: int | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_FIELDS)

    def values(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in LIMIT_FIELDS}

    @classmethod
    def of(cls, row: RateLimitRow) -> RateLimits:
        return cls(**{name: getattr(row, name) for name in LIMIT_FIELDS})

    @classmethod
    def checked(cls, values: dict[str, Any]) -> RateLimits:
        """Limits from user input: whole numbers from 1 to ``MAX_LIMIT`` or None, known names
        only (``Invalid`` naming the field otherwise)."""
        unknown = sorted(set(values) - set(LIMIT_FIELDS))
        if unknown:
            raise Invalid.at(unknown[0], f"is not a limit; limits: {', '.join(LIMIT_FIELDS)}")
        for name, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise Invalid.at(name, "must be a whole number or null", naming="subject")
            if not 1 <= value <= MAX_LIMIT:
                raise Invalid.at(name, f"must be between 1 and {MAX_LIMIT:,} (got {value}); "
                                       "null removes the limit", naming="subject")
        return cls(**values)

    def capped_by(self, ceiling: RateLimits) -> RateLimits:
        """These limits, none above ``ceiling``'s (a key under its tenant)."""
        lowered = {name: min(value, getattr(ceiling, name))
                   for name, value in self.values().items()
                   if value is not None and getattr(ceiling, name) is not None}
        return dataclasses.replace(self, **lowered)

    def first_above(self, ceiling: RateLimits) -> str | None:
        """The first limit set higher than ``ceiling`` sets it, else None."""
        for name, value in self.values().items():
            top = getattr(ceiling, name)
            if value is not None and top is not None and value > top:
                return name
        return None


@dataclass(frozen=True, slots=True)
class LimitsInfo:
    """The limits of a tenant (``key_id`` and ``model`` None), one of its keys, or its calls to
    one model. ``updated_at`` None: nothing set (no limit)."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    tenant: str
    key_id: str | None
    model: str | None
    requests_per_minute: int | None
    tokens_per_minute: int | None
    items_per_minute: int | None
    audio_seconds_per_minute: int | None
    concurrent_requests: int | None
    updated_by: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, row: RateLimitRow) -> LimitsInfo:
        return cls(tenant=row.tenant, key_id=row.key_id or None, model=row.model or None,
                   **RateLimits.of(row).values(), updated_by=row.updated_by,
                   updated_at=row.updated_at)

    @classmethod
    def unset(cls, tenant: str, *, key_id: str | None = None,
              model: str | None = None) -> LimitsInfo:
        return cls(tenant=tenant, key_id=key_id, model=model, **RateLimits().values(),
                   updated_by=None, updated_at=None)
