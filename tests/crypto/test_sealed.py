"""The sealed file format and the keyring on a real database: round trips, integrity failures,
wrong owners, and key rotation keeping every file readable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiaas.crypto.keyring import Keyring, rewrap
from aiaas.crypto.master import MasterKey
from aiaas.crypto.sealed import MAGIC, Sealer
from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.errors import KeyProblem, StoredDataCorrupt


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    migrate.upgrade(database.engine)
    return database


@pytest.fixture
def master(tmp_path: Path) -> MasterKey:
    return MasterKey.generate(tmp_path / "config" / "master-key.json")


@pytest.fixture
def sealer(db: Database, master: MasterKey) -> Sealer:
    return Sealer(Keyring(db, master))


def test_round_trip_of_a_large_file_hides_its_bytes(sealer: Sealer, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17) + b"CANARY-7f3a"
    path = tmp_path / "blob"
    sealer.write_bytes(path, "acme", "dataset/original.csv", data)
    stored = path.read_bytes()
    assert stored.startswith(MAGIC) and b"CANARY-7f3a" not in stored
    assert sealer.read_bytes(path, "acme", "dataset/original.csv") == data


@pytest.mark.parametrize("damage", ["flip", "truncate", "header"])
def test_damaged_files_are_refused(sealer: Sealer, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "blob"
    sealer.write_bytes(path, "acme", "plot/x.png", b"x" * 2_000_000)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01
    elif damage == "truncate":
        raw = raw[:-100]
    else:
        raw[len(MAGIC) + 6] ^= 0x01  # a byte of the tenant's name in the clear header
    path.write_bytes(bytes(raw))
    with pytest.raises(StoredDataCorrupt, match=r"integrity|sealed for another|header"):
        sealer.read_bytes(path, "acme", "plot/x.png")


def test_another_tenant_or_place_cannot_read_it(sealer: Sealer, tmp_path: Path) -> None:
    path = tmp_path / "blob"
    sealer.write_bytes(path, "acme", "dataset/original.csv", b"secret")
    with pytest.raises(StoredDataCorrupt, match="another owner"):
        sealer.read_bytes(path, "other", "dataset/original.csv")
    with pytest.raises(StoredDataCorrupt, match="another owner"):
        sealer.read_bytes(path, "acme", "plot/x.png")


def test_plain_files_read_until_refused(sealer: Sealer, tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with sealer.open(path, "acme", "dataset/original.csv") as handle:
        assert handle.read() == b"a,b\n1,2\n"
    with pytest.raises(StoredDataCorrupt, match="not sealed"):
        sealer.open(path, "acme", "dataset/original.csv", allow_plain=False)


def test_tenant_rotation_reseals_and_drops_old_key(sealer: Sealer, tmp_path: Path) -> None:
    ring = sealer.keyring
    old_path, new_path = tmp_path / "old", tmp_path / "new"
    sealer.write_bytes(old_path, "acme", "p", b"before")
    first = ring.primary_id("acme")
    second = ring.add_primary("acme")
    assert second != first and ring.key_count("acme") == 2
    sealer.write_bytes(new_path, "acme", "p", b"during")
    assert sealer.read_bytes(old_path, "acme", "p") == b"before"  # old key still opens it
    assert sealer.reseal(old_path) and not sealer.reseal(new_path)
    assert ring.drop_old("acme") == 1
    assert sealer.read_bytes(old_path, "acme", "p") == b"before"
    assert sealer.read_bytes(new_path, "acme", "p") == b"during"


def test_another_process_sees_a_rotation(db: Database, master: MasterKey, tmp_path: Path) -> None:
    mine, theirs = Sealer(Keyring(db, master)), Sealer(Keyring(db, master))
    mine.write_bytes(tmp_path / "a", "acme", "p", b"one")
    theirs.keyring.add_primary("acme")
    theirs.write_bytes(tmp_path / "b", "acme", "p", b"two")
    theirs.reseal(tmp_path / "a")
    theirs.keyring.drop_old("acme")
    assert mine.read_bytes(tmp_path / "b", "acme", "p") == b"two"
    mine.write_bytes(tmp_path / "c", "acme", "p", b"three")  # sealed with the new primary
    assert theirs.read_bytes(tmp_path / "c", "acme", "p") == b"three"


def test_wrong_master_key_is_refused_by_name(db: Database, master: MasterKey,
                                             tmp_path: Path) -> None:
    Keyring(db, master).handle("acme")
    stranger = MasterKey.generate(tmp_path / "other.json")
    with pytest.raises(KeyProblem, match=f"wrapped by id {master.key_id}"):
        Keyring(db, stranger).check()


def test_master_rotation_rewraps_and_resumes(db: Database, master: MasterKey,
                                             tmp_path: Path) -> None:
    ring = Keyring(db, master)
    for tenant in ("a", "b", "c"):
        Sealer(ring).write_bytes(tmp_path / tenant, tenant, "p", tenant.encode())
    new = MasterKey.generate(tmp_path / "new.json")
    assert rewrap(db, master, new) == (3, 0)
    assert rewrap(db, master, new) == (0, 3)  # a rerun after a kill finishes, changes nothing
    fresh = Sealer(Keyring(db, new))
    fresh.keyring.check()
    assert [fresh.read_bytes(tmp_path / t, t, "p") for t in "abc"] == [b"a", b"b", b"c"]
    with pytest.raises(KeyProblem):
        Keyring(db, master).check()


def test_missing_key_for_encrypted_data_is_not_recreated(tmp_path: Path) -> None:
    from aiaas.crypto import master as master_module

    with pytest.raises(KeyProblem, match="does not exist"):
        master_module.load(tmp_path / "nope.json", None, may_create=False)
    with pytest.raises(KeyProblem, match="not a Tink"):
        master_module.MasterKey.parse("{}", "test")
