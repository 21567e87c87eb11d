"""Unique-constraint races over real HTTP: many clients creating one alias or the first versions of
one model at the same moment get a success or a 409, never a 500, on SQLite and PostgreSQL, and
with two servers on one SQLite data dir."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

CALLS = 40
TASK = {"task": "tabular-classification"}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    live = start_server(tmp_path / "data", AIAAS_DATABASE_URL=database_url,
                        AIAAS_BUILTIN_MODELS="false")
    yield live
    stop_server(live)


async def _put_aliases(urls: list[str], key: str, version: int,
                       alias: str = "staging") -> list[httpx.Response]:
    """``CALLS`` PUTs of one new alias, spread over ``urls``, all sent at once."""
    clients = [httpx.AsyncClient(base_url=url, timeout=120,
                                 headers={"Authorization": f"Bearer {key}"},
                                 limits=httpx.Limits(max_connections=CALLS)) for url in urls]
    try:
        return await asyncio.gather(*(
            clients[i % len(clients)].put(f"/api/v1/models/iris/aliases/{alias}",
                                          json={"version": version}) for i in range(CALLS)))
    finally:
        for client in clients:
            await client.aclose()


def _upload(server: LiveServer, archive: bytes, name: str = "iris") -> int:
    with server.client() as client:
        response = client.post(f"/api/v1/models/{name}/versions", content=archive, params=TASK)
    assert response.status_code == 201, response.text
    return int(response.json()["version"])


def _model(server: LiveServer, name: str = "iris") -> dict[str, object]:
    with server.client() as client:
        response = client.get(f"/api/v1/models/{name}")
    assert response.status_code == 200, response.text
    model: dict[str, object] = response.json()
    return model


def test_one_alias_created_by_many_clients_at_once(server: LiveServer,
                                                   tiny_model_archive: bytes) -> None:
    _upload(server, tiny_model_archive)
    second = _upload(server, tiny_model_archive)
    responses = asyncio.run(_put_aliases([server.url], server.admin_key, second))
    assert Counter(r.status_code for r in responses) == {200: CALLS}, \
        [r.text for r in responses if r.status_code != 200][:3]
    assert _model(server)["aliases"] == {"production": 1, "staging": second}


def test_first_versions_of_one_model_uploaded_at_once(server: LiveServer,
                                                      tiny_model_archive: bytes) -> None:
    """Each upload is a new version or a 409 (the model is being changed): the 201s are exactly
    the versions stored, numbered 1..n, and version 1 is production."""
    uploads = 12

    async def upload_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120, headers={
                "Authorization": f"Bearer {server.admin_key}"}) as client:
            return await asyncio.gather(*(
                client.post("/api/v1/models/fresh/versions", content=tiny_model_archive,
                            params=TASK) for _ in range(uploads)))

    responses = asyncio.run(upload_all())
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses if r.status_code >= 500][:3]
    model = _model(server, "fresh")
    numbers = sorted(v["version"] for v in model["versions"])  # type: ignore[attr-defined]
    assert numbers == list(range(1, statuses[201] + 1))
    assert sorted(r.json()["version"] for r in responses if r.status_code == 201) == numbers
    assert model["aliases"] == {"production": 1}


def test_two_servers_on_one_sqlite_dir_race_for_an_alias(tmp_path: Path,
                                                         tiny_model_archive: bytes) -> None:
    """Five new aliases, each created by 40 calls at once spread over the two servers."""
    aliases = [f"canary-{i}" for i in range(5)]
    data_dir = tmp_path / "data"
    first = start_server(data_dir, AIAAS_BUILTIN_MODELS="false")
    try:
        second = start_server(data_dir, AIAAS_BUILTIN_MODELS="false")
        try:
            _upload(first, tiny_model_archive)
            version = _upload(second, tiny_model_archive)
            for alias in aliases:
                responses = asyncio.run(_put_aliases([first.url, second.url], first.admin_key,
                                                     version, alias))
                assert Counter(r.status_code for r in responses) == {200: CALLS}, \
                    [r.text for r in responses if r.status_code != 200][:3]
            assert _model(second)["aliases"] == {"production": 1,
                                                 **dict.fromkeys(aliases, version)}
        finally:
            stop_server(second)
    finally:
        stop_server(first)
