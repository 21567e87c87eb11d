"""Tenant data keys (envelope encryption): one Tink streaming-AEAD keyset per tenant, stored in
``tenant_keys`` wrapped by the master key, unwrapped once per process and kept in memory.

A keyset holds more than one key only while ``rotate-tenant`` runs: new files are sealed with
the primary, files sealed with an older key still open, and the older keys are dropped once no
file uses them. Re-wrapping under a new master key (``rewrap``) changes no file.
"""

from __future__ import annotations

import threading

import tink
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from tink import proto_keyset_format, secret_key_access, streaming_aead
from tink.proto import tink_pb2

from aiaas.crypto.master import MasterKey
from aiaas.db.crypto_tables import TenantKey
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.errors import KeyProblem

streaming_aead.register()

TEMPLATE = streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB
"""AES-256-GCM, a key per file derived with HKDF from a random salt, 1 MiB segments each with its
own tag: Tink's streaming format, so a file is written and read in bounded memory."""


def _associated(tenant: str) -> bytes:
    return b"aiaas tenant key\0" + tenant.encode()


class Keyring:
    """The tenants' data keys. Thread-safe; several processes may create keys concurrently
    (the primary key on ``tenant`` decides, the loser reads the winner's)."""

    def __init__(self, db: Database, master: MasterKey) -> None:
        self.db = db
        self.master = master
        self._handles: dict[str, tink.KeysetHandle] = {}
        self._primitives: dict[str, tuple[streaming_aead.StreamingAead, frozenset[int]]] = {}
        self._lock = threading.Lock()

    def check(self) -> None:
        """Refuse a master key that did not wrap the stored keys (naming both ids), or one that
        does not open them; called before anything else starts."""
        with self.db.session() as session:
            rows = list(session.scalars(select(TenantKey)))
        foreign = sorted({row.master_id for row in rows} - {self.master.key_id})
        if foreign:
            raise KeyProblem(
                f"the master key {self.master.source} (id {self.master.key_id}) did not wrap "
                f"the data keys stored here (wrapped by id {', '.join(foreign)}); start with the "
                "right key, or finish `aiaas crypto rotate-master` if one was interrupted")
        for row in rows[:1]:
            self._unwrap(row)

    def _unwrap(self, row: TenantKey) -> tink.KeysetHandle:
        try:
            return proto_keyset_format.parse_encrypted(row.keyset, self.master.aead,
                                                       _associated(row.tenant))
        except tink.TinkError:
            raise KeyProblem(f"the master key {self.master.source} does not open the data key "
                             f"of tenant {row.tenant!r}: wrong key, or the row was altered"
                             ) from None

    def _wrap(self, tenant: str, handle: tink.KeysetHandle) -> bytes:
        wrapped: bytes = proto_keyset_format.serialize_encrypted(handle, self.master.aead,
                                                                 _associated(tenant))
        return wrapped

    def handle(self, tenant: str) -> tink.KeysetHandle:
        """The tenant's keyset, created (and stored wrapped) on first use."""
        with self._lock:
            cached = self._handles.get(tenant)
            if cached is not None:
                return cached
            handle = self._load_or_create(tenant)
            self._handles[tenant] = handle
            return handle

    def primitive(self, tenant: str, key_id: int | None = None) -> streaming_aead.StreamingAead:
        """The tenant's primitive; ``key_id`` (from a file's header) not in the cached keyset
        means another process rotated it: the keyset is read again."""
        cached = self._primitives.get(tenant)
        if cached is None or (key_id is not None and key_id not in cached[1]):
            if cached is not None:
                self.forget(tenant)
            handle = self.handle(tenant)
            cached = (handle.primitive(streaming_aead.StreamingAead), frozenset(_ids(handle)))
            with self._lock:
                self._primitives[tenant] = cached
        return cached[0]

    def primary_id(self, tenant: str) -> int:
        """The key to seal new files with, checked against the stored row on every call (a
        write is rare and a rotation by another process must be seen at once)."""
        handle = self.handle(tenant)
        with self.db.session() as session:
            stored = session.scalar(select(TenantKey.primary_key_id)
                                    .where(TenantKey.tenant == tenant))
        if stored is not None and stored != handle.keyset_info().primary_key_id:
            self.forget(tenant)
            handle = self.handle(tenant)
        return int(handle.keyset_info().primary_key_id)

    def _load_or_create(self, tenant: str) -> tink.KeysetHandle:
        with self.db.session() as session:
            row = session.get(TenantKey, tenant)
            if row is not None:
                return self._unwrap(row)
        handle = tink.new_keyset_handle(TEMPLATE)
        try:
            with self.db.session() as session:
                session.add(TenantKey(tenant=tenant, keyset=self._wrap(tenant, handle),
                                      master_id=self.master.key_id,
                                      primary_key_id=handle.keyset_info().primary_key_id))
            return handle
        except IntegrityError:
            with self.db.session() as session:
                return self._unwrap(session.get_one(TenantKey, tenant))

    def forget(self, tenant: str) -> None:
        """Drop the cached keyset (after another process rotated it)."""
        with self._lock:
            self._handles.pop(tenant, None)
            self._primitives.pop(tenant, None)

    def tenants(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(TenantKey.tenant).order_by(TenantKey.tenant)))

    def add_primary(self, tenant: str) -> int:
        """Start a tenant rotation: a new key becomes primary, the old ones stay to open the
        files not yet re-sealed. Returns the new primary id."""
        current = _keyset(self.handle(tenant))
        fresh = _keyset(tink.new_keyset_handle(TEMPLATE))
        current.key.extend(fresh.key)
        current.primary_key_id = fresh.primary_key_id
        self._store(tenant, current)
        return int(fresh.primary_key_id)

    def drop_old(self, tenant: str) -> int:
        """End a tenant rotation: keep only the primary key. Returns how many keys went."""
        keyset = _keyset(self.handle(tenant))
        kept = [key for key in keyset.key if key.key_id == keyset.primary_key_id]
        dropped = len(keyset.key) - len(kept)
        if dropped:
            del keyset.key[:]
            keyset.key.extend(kept)
            self._store(tenant, keyset)
        return dropped

    def key_count(self, tenant: str) -> int:
        return len(self.handle(tenant).keyset_info().key_info)

    def _store(self, tenant: str, keyset: tink_pb2.Keyset) -> None:
        handle = proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)
        with self.db.session() as session:
            row = session.get_one(TenantKey, tenant)
            row.keyset = self._wrap(tenant, handle)
            row.master_id = self.master.key_id
            row.primary_key_id = keyset.primary_key_id
            row.updated_at = utcnow()
        with self._lock:
            self._handles[tenant] = handle
            self._primitives.pop(tenant, None)


def rewrap(db: Database, old: MasterKey, new: MasterKey) -> tuple[int, int]:
    """Re-wrap every tenant key from ``old`` to ``new`` (no data file changes). Each row is its
    own transaction and rows already under ``new`` are skipped, so a run killed half-way is
    finished by running it again. Returns (re-wrapped, already done)."""
    done = skipped = 0
    with db.session() as session:
        tenants = list(session.scalars(select(TenantKey.tenant).order_by(TenantKey.tenant)))
    for tenant in tenants:
        with db.session() as session:
            row = session.get_one(TenantKey, tenant)
            if row.master_id == new.key_id:
                skipped += 1
                continue
            if row.master_id != old.key_id:
                raise KeyProblem(f"tenant {tenant!r}'s key is wrapped by master id "
                                 f"{row.master_id}, neither the old nor the new key")
            handle = Keyring(db, old)._unwrap(row)
            row.keyset = proto_keyset_format.serialize_encrypted(handle, new.aead,
                                                                 _associated(tenant))
            row.master_id = new.key_id
            row.updated_at = utcnow()
            done += 1
    return done, skipped


def _ids(handle: tink.KeysetHandle) -> set[int]:
    return {info.key_id for info in handle.keyset_info().key_info}


def _keyset(handle: tink.KeysetHandle) -> tink_pb2.Keyset:
    return tink_pb2.Keyset.FromString(
        proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
