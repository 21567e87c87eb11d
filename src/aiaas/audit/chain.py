"""The hash chain: a record's hash is SHA-256 over the canonical JSON of its fields, its
``prev_hash`` among them, so changing any field of any record (or removing one) shows.

Canonical JSON: keys sorted, no spaces, UTF-8, times as UTC ISO 8601 with microseconds (what
both databases keep). ``before`` and ``after`` are made plain JSON (``plain``) before they are
stored, so what is hashed at append is exactly what is read back at verify.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

SECRETS = frozenset({"secret", "secret_hash", "token", "password", "api_key", "authorization"})
"""Field names never written to the log, at any depth (a caller passing a whole object cannot
leak a key's secret or hash into it)."""

HASHED = ("id", "created_at", "tenant", "key_id", "action", "target_type", "target_id",
          "target_tenant", "before", "after", "request_id", "client", "prev_hash")
"""The fields a record's hash covers: all of them but the hash itself."""


def timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, int, float, bool, None), secrets left
    out: times as ISO strings, decimals as exact strings, dataclasses as dicts."""
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 2.50 and 2.5000000000 are one amount
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()
                if str(key).lower() not in SECRETS}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(item) for item in value]
        return sorted(items, key=canonical) if isinstance(value, set | frozenset) else items
    return str(value)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def digest(fields: Mapping[str, Any]) -> str:
    """The hash of a record given as its ``HASHED`` fields (``created_at`` a datetime)."""
    body = {name: fields[name] for name in HASHED}
    body["created_at"] = timestamp(body["created_at"])
    return hashlib.sha256(canonical(body).encode()).hexdigest()
