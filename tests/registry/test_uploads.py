"""The upload workflow as a service call (the route only hands it the request's stream): the
scope is checked before a byte is read, limits hold on the wire and on expansion, and no
staging directory outlives the call, whether it registers a version or fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.db import migrate
from aiaas.db.engine import Database
from aiaas.errors import Forbidden, Invalid, PayloadTooLarge
from aiaas.registry.service import Registry
from aiaas.registry.store import ArtifactStore
from aiaas.registry.uploads import EXPANSION, Uploads
from tests.registry.conftest import iris_tar, make_tar

WRITER = Principal("alpha", "key-1", frozenset({Scope.MODELS_WRITE}))
LIMIT = 64 * 1024


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    db = Database(f"sqlite:///{tmp_path / 'aiaas.db'}")
    migrate.upgrade(db.engine)
    yield Registry(db, ArtifactStore(tmp_path / "artifacts", tmp_path / "tmp"))
    db.dispose()


async def chunks(payload: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start:start + size]


async def test_an_archive_becomes_the_next_version_and_leaves_no_stage(registry: Registry) -> None:
    uploads = Uploads(registry, max_bytes=LIMIT)
    first = await uploads.register(WRITER, "iris", chunks(iris_tar()), description="first")
    again = await uploads.register(WRITER, "iris", chunks(iris_tar(prefix="")))
    assert (first.version, first.tenant, first.created_by) == (1, "alpha", "key-1")
    assert again.version == 2 and again.sha256 == first.sha256
    assert registry.get_model(Principal.system("alpha"), "iris").description == "first"
    assert list(registry.store.tmp_dir.iterdir()) == []


async def test_the_scope_is_checked_before_anything_is_read(registry: Registry) -> None:
    read = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield iris_tar()

    reader = Principal("alpha", "key-2", frozenset({Scope.MODELS_READ}))
    with pytest.raises(Forbidden):
        await Uploads(registry, max_bytes=LIMIT).register(reader, "iris", body())
    assert not read and list(registry.store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize(("payload", "error"), [
    (b"\0" * (LIMIT + 1), PayloadTooLarge),
    (make_tar([("big.bin", b"\0" * (LIMIT * EXPANSION + 1))]), PayloadTooLarge),
    (b"", Invalid),
    (b"not an archive at all", Invalid),
])
async def test_refused_uploads_leave_nothing_behind(registry: Registry, payload: bytes,
                                                    error: type[Exception]) -> None:
    with pytest.raises(error):
        await Uploads(registry, max_bytes=LIMIT).register(WRITER, "iris", chunks(payload))
    assert list(registry.store.tmp_dir.iterdir()) == []
    assert registry.list_models(Principal.system("alpha")) == []
