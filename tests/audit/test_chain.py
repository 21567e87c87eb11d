"""The hash chain's parts: plain JSON of before/after (no secrets, exact amounts) and the digest
over a record's fields (every field counts, key order and time zone spelling do not)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from aiaas.audit import changed
from aiaas.audit.chain import HASHED, canonical, digest, plain
from aiaas.auth.principal import Scope
from aiaas.db.audit_tables import GENESIS

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
RECORD = {"id": 7, "created_at": WHEN, "tenant": "clinic", "key_id": "0123456789abcdef",
          "action": "key.create", "target_type": "key", "target_id": "fedcba9876543210",
          "target_tenant": "clinic", "before": None, "after": {"name": "ci", "scopes": ["predict"]},
          "request_id": "r-1", "client": "127.0.0.1", "prev_hash": GENESIS}


@dataclass
class Thing:
    name: str
    at: datetime


def test_plain_makes_json_data_and_leaves_secrets_out() -> None:
    value = {"amount": Decimal("2.5000000000"), "at": WHEN, "scope": Scope.PREDICT,
             "scopes": frozenset({"b", "a"}), "pair": (1, 2), "nan": float("nan"),
             "secret": "aiaas-x-y", "nested": {"secret_hash": "abc", "Token": "t", "ok": 1},
             "thing": Thing("x", WHEN)}
    assert plain(value) == {
        "amount": "2.5", "at": "2026-01-02T03:04:05.678901+00:00", "scope": "predict",
        "scopes": ["a", "b"], "pair": [1, 2], "nan": None, "nested": {"ok": 1},
        "thing": {"name": "x", "at": "2026-01-02T03:04:05.678901+00:00"}}
    assert plain(Decimal("250.00")) == plain(Decimal("250.0000000000")) == "250"


def test_the_digest_covers_every_field_and_nothing_else() -> None:
    first = digest(RECORD)
    assert len(first) == 64 and digest(dict(reversed(list(RECORD.items())))) == first
    assert digest({**RECORD, "hash": "anything", "extra": 1}) == first
    for name in HASHED:
        if name == "created_at":
            other = WHEN + timedelta(microseconds=1)
        elif name == "id":
            other = 8
        elif name in ("before", "after"):
            other = {"name": "cj"}
        else:
            other = "x"
        assert digest({**RECORD, name: other}) != first, name


def test_the_digest_reads_one_instant_however_it_is_spelled() -> None:
    elsewhere = WHEN.astimezone(timezone(timedelta(hours=2)))
    assert digest({**RECORD, "created_at": elsewhere}) == digest(RECORD)
    assert digest({**RECORD, "created_at": WHEN.replace(tzinfo=None)}) == digest(RECORD)


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_changed_keeps_only_the_fields_that_differ() -> None:
    before, after = changed({"a": 1, "b": Decimal("2.50"), "c": None},
                            {"a": 1, "b": Decimal("2.5"), "c": 3, "d": None})
    assert (before, after) == ({"c": None}, {"c": 3})
    assert changed({"a": 1}, {"a": 1}) == ({}, {})
