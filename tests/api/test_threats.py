"""Threat tests for the registry and upload path, over HTTP, on SQLite and PostgreSQL.

Every hostile request must get a clean 4xx in the error shape (never a 500), and leave nothing
behind: no model row, no artifact, no staging dir, no file outside the data dir. Paths that an
HTTP client would normalise (``../``) are sent straight to the ASGI app, as a server passes them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import stat
import tarfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from aiaas.api.app import create_app
from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.db.tables import Model, utcnow
from aiaas.registry import archive
from aiaas.registry.sealing import sealed_digest
from aiaas.services import Services
from tests.conftest import Api
from tests.registry.conftest import (
    IRIS_FEATURES,
    Member,
    iris_files,
    iris_record,
    iris_tar,
    iris_zip,
    linear_onnx,
    make_tar,
    make_zip,
    st_files,
)

UPLOAD_LIMIT = 64 * 1024  # archives may expand to 4x this
BODY_LIMIT = 4 * 1024
MODELS = "/api/v1/models"


@dataclass
class Server:
    api: Api
    app: Any
    settings: Settings
    root: Path

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    def auth(self, key: str | None = None) -> dict[str, str]:
        return self.api.auth(key)

    async def upload(self, name: str, payload: bytes, key: str | None = None,
                     **params: str) -> httpx.Response:
        return await self.client.post(f"{MODELS}/{name}/versions", content=payload,
                                      params=params, headers=self.auth(key))

    async def predict(self, name: str, key: str | None = None, ref: str | None = None,
                      inputs: list[Any] | None = None) -> httpx.Response:
        path = f"{MODELS}/{name}/versions/{ref}/predict" if ref else f"{MODELS}/{name}/predict"
        return await self.client.post(path, json={"inputs": inputs or [iris_record()]},
                                      headers=self.auth(key))

    async def raw(self, method: str, raw_path: str, *, key: str | None = None,
                  body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
        """One request straight into the ASGI app, with the path exactly as given (a server
        percent-decodes it and does not resolve ``..``)."""
        all_headers = {"host": "aiaas.test", "content-length": str(len(body)),
                       **self.auth(key), **(headers or {})}
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "root_path": "", "query_string": b"",
            "path": unquote(raw_path), "raw_path": raw_path.encode("ascii"),
            "headers": [(k.lower().encode(), v.encode()) for k, v in all_headers.items()],
            "server": ("aiaas.test", 80), "client": ("127.0.0.1", 50000),
        }
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []
        answered = asyncio.Event()

        async def receive() -> dict[str, Any]:
            """As a server does: once the body is read, the next message waits for the client
            to leave, which this one does only after its answer."""
            if pending:
                return pending.pop()
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return httpx.Response(start["status"], headers=start.get("headers", []), content=content)

    def files(self) -> set[str]:
        """Every path under the test's tmp dir but the SQLite database files."""
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                if not p.name.startswith("aiaas.db")}

    def digests(self) -> set[str]:
        return {p.name for p in self.settings.artifacts_dir.glob("*/*") if p.is_dir()}

    def model_count(self) -> int:
        with self.api.services.db.session() as session:
            return session.scalar(select(func.count()).select_from(Model)) or 0

    def assert_nothing_stored(self, models: int = 0, digests: set[str] | None = None) -> None:
        assert self.model_count() == models
        assert self.digests() == (digests or set())
        assert list(self.settings.tmp_dir.iterdir()) == [], "a staging dir was left behind"


@pytest.fixture
async def server(tmp_path: Path, database_url: str) -> AsyncIterator[Server]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        builtin_models=False, log_json=False, max_upload_bytes=UPLOAD_LIMIT,
                        max_body_bytes=BODY_LIMIT)
    services = Services.build(settings)
    app = create_app(settings, services)
    admin = services.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    try:
        async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://aiaas.test") as client:
                yield Server(Api(client, services, admin), manager.app, settings, tmp_path)
    finally:
        services.db.dispose()


def assert_error(response: httpx.Response, status: int | tuple[int, ...],
                 code: str | None = None, *contains: str) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, body
    for text in contains:
        assert text in error["message"], body
    return error


# --- the control: a real model goes in and predicts ------------------------------------------


async def test_a_real_model_uploads_and_predicts(server: Server) -> None:
    response = await server.upload("iris", iris_tar())
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    response = await server.upload("iris", iris_zip())
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    assert response.json()["sha256"] == server.api.services.registry.resolve(
        "default", "iris", 1).sha256
    predicted = await server.predict("iris")
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["outputs"][0]["label"] == "setosa"
    assert server.model_count() == 1
    assert list(server.settings.tmp_dir.iterdir()) == []


# --- 1. archive slip -------------------------------------------------------------------------


def _slips(tag: str) -> dict[str, bytes]:
    """Archives with a valid model plus one member that escapes or is not a regular file."""
    absolute = f"/tmp/aiaas-slip-{tag}"
    escape = f"escape-{tag}"
    base = [(f"iris/{n}", p) for n, p in iris_files().items()]
    tar_members = {
        "tar ../": Member(f"../{escape}", b"x"),
        "tar deep ../": Member(f"iris/../../../../{escape}", b"x"),
        "tar absolute": Member(absolute, b"x"),
        "tar symlink out": Member("iris/passwd", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
        "tar symlink ../": Member("iris/up", kind=tarfile.SYMTYPE, linkname=f"../../{escape}"),
        "tar hardlink out": Member("iris/hard", kind=tarfile.LNKTYPE, linkname="/etc/passwd"),
        "tar hardlink ../": Member("iris/hard", kind=tarfile.LNKTYPE, linkname=f"../{escape}"),
        "tar char device": Member("iris/null", kind=tarfile.CHRTYPE),
        "tar block device": Member("iris/sda", kind=tarfile.BLKTYPE),
        "tar fifo": Member("iris/fifo", kind=tarfile.FIFOTYPE),
    }
    cases = {label: make_tar([*base, member]) for label, member in tar_members.items()}
    zip_members = {
        "zip ../": (f"../{escape}", 0),
        "zip deep ../": (f"iris/../../../../{escape}", 0),
        "zip absolute": (absolute, 0),
        "zip backslash": (f"iris\\..\\..\\{escape}", 0),
        "zip drive": (f"C:\\{escape}", 0),
        "zip symlink": ("iris/passwd", stat.S_IFLNK | 0o777),
        "zip char device": ("iris/null", stat.S_IFCHR | 0o666),
    }
    for label, (name, mode) in zip_members.items():
        cases[label] = make_zip([*base, (name, b"/etc/passwd")],
                                modes={name: mode} if mode else None)
    return cases


async def test_archive_members_that_escape_are_refused(server: Server) -> None:
    tag = uuid.uuid4().hex
    before = server.files()
    for label, payload in _slips(tag).items():
        response = await server.upload("iris", payload)
        error = assert_error(response, 422, "unsafe_artifact")
        assert "archive member" in error["message"], label
    assert server.files() == before
    assert _escaped(tag, server.root) == []
    server.assert_nothing_stored()


def _escaped(tag: str, root: Path) -> list[Path]:
    """Files the slip archives tried to plant, wherever they could have landed."""
    planted = [Path(f"/tmp/aiaas-slip-{tag}"), Path(f"/tmp/escape-{tag}")]
    return [p for p in planted if p.exists()] + list(root.parent.glob(f"**/escape-{tag}"))


# --- 2. pickles and code ---------------------------------------------------------------------


async def test_code_running_files_are_refused_saying_why(server: Server) -> None:
    for name in ["model.pkl", "pytorch_model.bin", "model.pt", "model.joblib", "tf_model.h5",
                 "modeling_custom.py", "weights.npy", "model.pkl.gz"]:
        response = await server.upload("iris", iris_tar(extra={name: b"\x80\x04K\x01."}))
        error = assert_error(response, 422, "unsafe_artifact", name, "can run code")
        assert error["details"] == {"file": name}
    server.assert_nothing_stored()


async def test_sentence_transformers_module_outside_the_library_is_refused(server: Server) -> None:
    for module_type in ["os.system", "pickle.Unpickler", "modeling_evil.Model"]:
        modules = [{"idx": 0, "name": "0", "path": "", "type": module_type}]
        payload = make_tar(list(st_files(modules).items()))
        assert_error(await server.upload("embedder", payload), 422, "unsafe_artifact",
                     module_type)
    for path in ["..", "../../etc", "/etc"]:
        modules = [{"idx": 0, "name": "0", "path": path,
                    "type": "sentence_transformers.models.Transformer"}]
        payload = make_tar(list(st_files(modules).items()))
        assert_error(await server.upload("embedder", payload), 422, "unsafe_artifact",
                     "leaves the model directory")
    server.assert_nothing_stored()


# --- 3. ONNX external data -------------------------------------------------------------------

REGRESSION = json.dumps({"task": "tabular-regression", "feature_names": list("abcd")}).encode()


async def test_onnx_external_data_outside_the_model_is_refused(server: Server) -> None:
    for location in ["../../etc/passwd", "/etc/passwd", "../../../../../../etc/hostname"]:
        for where in ("initializer", "attribute"):
            model, _ = linear_onnx(location=location, in_attribute=where == "attribute")
            payload = make_tar([("m/model.onnx", model), ("m/aiaas.json", REGRESSION)])
            assert_error(await server.upload("linear", payload), 422, "unsafe_artifact",
                         "outside the model directory", location)
    server.assert_nothing_stored()


async def test_onnx_external_data_inside_the_model_loads(server: Server) -> None:
    model, weights = linear_onnx(location="weights.data")
    payload = make_tar([("m/model.onnx", model), ("m/weights.data", weights),
                        ("m/aiaas.json", REGRESSION)])
    response = await server.upload("linear", payload)
    assert response.status_code == 201, response.text
    predicted = await server.predict("linear", inputs=[dict.fromkeys("abcd", 1.0)])
    assert predicted.status_code == 200, predicted.text
    assert predicted.json()["outputs"] == [{"value": pytest.approx(1.75)}]


# --- 4. decompression bombs ------------------------------------------------------------------


async def test_decompression_bombs_are_too_large(server: Server) -> None:
    zeros = b"\0" * (4 * 1024 * 1024)  # 16x the expansion limit; compresses to a few KiB
    pax = tarfile.TarInfo("pax")
    pax.type, pax.size = tarfile.XHDTYPE, 10**15
    bombs = {
        "tar.gz": make_tar([*[(f"iris/{n}", p) for n, p in iris_files().items()],
                            ("iris/padding.bin.data", zeros)]),
        "zip": make_zip([*iris_files().items(), ("padding.data", zeros)]),
        "tar.xz": make_tar([("padding.data", zeros)], compression="xz"),
        "pax header": gzip.compress(pax.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 1024),
    }
    for label, payload in bombs.items():
        assert len(payload) < UPLOAD_LIMIT, label
        error = assert_error(await server.upload("iris", payload), 413, "payload_too_large")
        assert error["details"]["limit"] > 0, label
    server.assert_nothing_stored()


async def test_too_many_members_is_too_large(server: Server,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "MAX_MEMBERS", 8)
    many = [(f"iris/extra-{i}.txt", b"x") for i in range(9)]
    assert_error(await server.upload("iris", make_tar(many)), 413, "payload_too_large",
                 "more than 8 members")
    assert_error(await server.upload("iris", make_zip(many)), 413, "payload_too_large")
    server.assert_nothing_stored()


# --- 5. oversized bodies ---------------------------------------------------------------------


async def _chunks(total: int, size: int = 4096) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"\0" * min(size, total - sent)
        sent += size


async def test_oversized_upload_is_refused_with_or_without_content_length(server: Server) -> None:
    too_big = UPLOAD_LIMIT + 1
    declared = await server.upload("iris", b"\0" * too_big)
    assert_error(declared, 413, "payload_too_large")
    chunked = await server.client.post(f"{MODELS}/iris/versions", content=_chunks(too_big * 4),
                                       headers=server.auth())
    assert_error(chunked, 413, "payload_too_large")
    lying = await server.raw("POST", f"{MODELS}/iris/versions", body=b"\0" * too_big,
                             headers={"content-length": "10"})
    assert_error(lying, 413, "payload_too_large")
    at_limit = await server.upload("iris", b"\0" * UPLOAD_LIMIT)
    assert_error(at_limit, 422, "invalid_request")  # not too large: just not an archive
    server.assert_nothing_stored()


async def test_oversized_predict_body_with_content_length_is_too_large(server: Server) -> None:
    assert (await server.upload("iris", iris_tar())).status_code == 201
    body = json.dumps({"inputs": [iris_record()] * 100}).encode()
    assert len(body) > BODY_LIMIT
    response = await server.client.post(f"{MODELS}/iris/predict", content=body, headers={
        **server.auth(), "content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


async def test_oversized_chunked_predict_body_is_too_large(server: Server) -> None:
    assert (await server.upload("iris", iris_tar())).status_code == 201
    body = json.dumps({"inputs": [iris_record()] * 100}).encode()

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start:start + 512]

    response = await server.client.post(f"{MODELS}/iris/predict", content=chunked(), headers={
        **server.auth(), "content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


# --- 6. not an archive -----------------------------------------------------------------------


async def test_corrupt_uploads_name_the_problem(server: Server) -> None:
    stored = iris_zip()
    good = iris_tar()
    cases = {
        "random bytes": (os.urandom(2048), "not a tar, tar.gz or zip"),
        "text file": (b"name,value\nsepal,5.1\n" * 20, "not a tar, tar.gz or zip"),
        "empty body": (b"", "empty"),
        "truncated tar.gz": (good[: len(good) // 2], "corrupt gzip-compressed tar"),
        "truncated zip": (stored[: len(stored) // 2], "corrupt zip"),
        "gzip of a model": (gzip.compress(iris_files()["model.onnx"]),
                            "corrupt gzip-compressed tar"),
        "no model inside": (make_tar([("readme.txt", b"hi")]), "unrecognised model format"),
        "empty archive": (make_tar([]), "empty"),
    }
    for label, (payload, problem) in cases.items():
        response = await server.upload("iris", payload)
        error = assert_error(response, 422, None, problem)
        assert str(server.root) not in error["message"], label
    server.assert_nothing_stored()


async def test_hostile_query_parameters_are_refused(server: Server) -> None:
    for params, status in [({"task": "../../etc/passwd"}, 422), ({"task": "os.system"}, 422),
                           ({"task": "tabular-regression\x00"}, 422),
                           ({"description": "x" * 2001}, 422), ({"description": "a\x00b"}, 422)]:
        response = await server.upload("iris", iris_tar(), **params)
        assert_error(response, status)
    server.assert_nothing_stored()


# --- 7. traversal through names, refs and ids ------------------------------------------------

HOSTILE_NAMES = ["../etc", "..%2F..%2Fetc", "..%2f..", "a%2Fb", "%2e%2e", "..", ".", "x" * 300,
                 "UPPER", "iris%0A", "iris%00", "%252e%252e", "iris%5C..%5C..", "-rf", "%20"]
HOSTILE_REFS = ["../../x", "..%2F..%2Fx", "%2e%2e", "%C2%B2", "9" * 5000, "-1", "%00", "1%0A"]


def _routes() -> list[tuple[str, str, bytes]]:
    """Every model route, as (method, path template, body)."""
    predict = json.dumps({"inputs": [iris_record()]}).encode()
    alias = json.dumps({"version": 1}).encode()
    return [
        ("GET", MODELS + "/{name}", b""),
        ("DELETE", MODELS + "/{name}", b""),
        ("GET", MODELS + "/{name}/versions/{ref}", b""),
        ("DELETE", MODELS + "/{name}/versions/{ref}", b""),
        ("POST", MODELS + "/{name}/versions", iris_tar()),
        ("PUT", MODELS + "/{name}/aliases/{ref}", alias),
        ("POST", MODELS + "/{name}/predict", predict),
        ("POST", MODELS + "/{name}/versions/{ref}/predict", predict),
    ]


async def test_hostile_names_and_refs_never_reach_the_disk(server: Server) -> None:
    assert (await server.upload("iris", iris_tar())).status_code == 201
    digests = server.digests()
    before = server.files()
    requests = [(method, template.format(name=name, ref="1"), body)
                for name in HOSTILE_NAMES for method, template, body in _routes()]
    requests += [(method, template.format(name="iris", ref=ref), body)
                 for ref in HOSTILE_REFS for method, template, body in _routes()
                 if "{ref}" in template]
    for method, path, body in requests:
        response = await server.raw(method, path, body=body,
                                    headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (method, path, response.text)
        assert_error(response, response.status_code)
    assert server.files() == before
    server.assert_nothing_stored(models=1, digests=digests)
    assert (await server.predict("iris")).status_code == 200
    assert (await server.client.get(f"{MODELS}/iris", headers=server.auth())
            ).json()["aliases"] == {"production": 1}


async def test_hostile_key_ids_are_not_found(server: Server) -> None:
    victim = server.api.services.keys.create(Principal.system(), name="victim", tenant="default")
    for key_id in ["../../etc/passwd", "..%2F..%2Fetc", "%2e%2e", victim.info.id + "%0A",
                   victim.info.id + "%2F..", victim.info.id.upper(), "x" * 500, "%00"]:
        response = await server.raw("DELETE", f"/api/v1/keys/{key_id}")
        assert_error(response, 404, "not_found")
    assert (await server.client.get("/api/v1/me", headers=server.auth(victim.secret))
            ).status_code == 200


# --- 8. object-level authorisation -----------------------------------------------------------


async def test_another_tenants_model_is_not_found_everywhere(server: Server) -> None:
    alpha = server.api.new_key("alpha")
    beta = server.api.new_key("beta")
    uploaded = await server.upload("iris", iris_tar(), key=alpha)
    assert uploaded.status_code == 201
    digest = uploaded.json()["sha256"]
    b = server.auth(beta)
    attempts = [
        server.client.get(f"{MODELS}/iris", headers=b),
        server.client.get(f"{MODELS}/iris/versions/1", headers=b),
        server.client.get(f"{MODELS}/iris/versions/production", headers=b),
        server.predict("iris", key=beta),
        server.predict("iris", key=beta, ref="1"),
        server.client.put(f"{MODELS}/iris/aliases/production", json={"version": 1}, headers=b),
        server.client.put(f"{MODELS}/iris/aliases/canary", json={"version": 1}, headers=b),
        server.client.delete(f"{MODELS}/iris/versions/1", headers=b),
        server.client.delete(f"{MODELS}/iris", headers=b),
    ]
    for attempt in attempts:
        response = await attempt
        error = assert_error(response, 404, "not_found")
        assert "alpha" not in json.dumps(error)
    listed = await server.client.get(MODELS, headers=b)
    assert listed.status_code == 200
    assert listed.json()["models"] == []
    mine = await server.client.get(f"{MODELS}/iris", headers=server.auth(alpha))
    assert mine.status_code == 200
    assert mine.json()["aliases"] == {"production": 1}

    own = await server.upload("iris", iris_tar(), key=beta)
    assert own.status_code == 201, own.text
    assert (own.json()["tenant"], own.json()["version"]) == ("beta", 1)
    assert (await server.upload("iris", iris_zip(), key=beta)).json()["version"] == 2
    assert (await server.client.get(f"{MODELS}/iris", headers=server.auth(alpha))
            ).json()["latest_version"] == 1
    # beta's identical upload is sealed with beta's key (its own copy); beta deleting its model
    # takes only that copy, never alpha's
    assert {sealed_digest("alpha", digest), sealed_digest("beta", digest)} <= server.digests()
    assert (await server.client.delete(f"{MODELS}/iris", headers=b)).status_code == 204
    assert server.digests() == {sealed_digest("alpha", digest)}
    predicted = await server.predict("iris", key=alpha)
    assert predicted.status_code == 200, predicted.text


async def test_builtin_models_cannot_be_changed_by_a_tenant(server: Server) -> None:
    registry = server.api.services.registry
    staged = registry.store.staging_dir()
    for name, payload in iris_files().items():
        (staged / name).write_bytes(payload)
    registry.register(staged, tenant="builtin", name="flowers", created_by="aiaas", move=True)
    tenant = server.api.new_key("alpha")
    headers = server.auth(tenant)
    for attempt in [server.client.delete(f"{MODELS}/flowers", headers=headers),
                    server.client.delete(f"{MODELS}/flowers/versions/1", headers=headers),
                    server.client.put(f"{MODELS}/flowers/aliases/production", json={"version": 1},
                                      headers=headers)]:
        assert_error(await attempt, (403, 404))
    assert_error(await server.upload("flowers", iris_tar(), key=tenant), 409, "conflict",
                 "built-in")
    shown = await server.client.get(f"{MODELS}/flowers", headers=headers)
    assert shown.status_code == 200
    assert shown.json()["builtin"] is True
    assert shown.json()["latest_version"] == 1
    assert (await server.predict("flowers", key=tenant)).status_code == 200
    assert list(server.settings.tmp_dir.iterdir()) == []


# --- 9. scopes and keys ----------------------------------------------------------------------


async def test_scopes_are_enforced(server: Server) -> None:
    assert (await server.upload("iris", iris_tar())).status_code == 201
    reader = server.api.new_key("default", scopes=["models:read", "predict"])
    writer = server.api.new_key("default", scopes=["models:read", "models:write"])
    assert_error(await server.upload("other", iris_tar(), key=reader), 403, "forbidden",
                 "models:write")
    assert_error(await server.predict("iris", key=writer), 403, "forbidden", "predict")
    assert_error(await server.predict("iris", key=writer, ref="1"), 403, "forbidden")
    r = server.auth(reader)
    assert_error(await server.client.delete(f"{MODELS}/iris", headers=r), 403, "forbidden")
    assert_error(await server.client.put(f"{MODELS}/iris/aliases/x", json={"version": 1},
                                         headers=r), 403, "forbidden")
    assert (await server.predict("iris", key=reader)).status_code == 200
    for key in (reader, writer, server.api.new_key("default")):
        h = server.auth(key)
        assert_error(await server.client.get("/api/v1/keys", headers=h), 403, "forbidden")
        assert_error(await server.client.post("/api/v1/keys", json={"name": "x", "admin": True},
                                              headers=h), 403, "forbidden")
        assert_error(await server.client.delete("/api/v1/keys/0123456789abcdef", headers=h),
                     403, "forbidden")
        assert_error(await server.client.get("/metrics", headers=h), 403, "forbidden")
    server.assert_nothing_stored(models=1, digests=server.digests())


async def test_missing_malformed_and_unknown_keys_are_unauthenticated(server: Server) -> None:
    real = server.api.new_key("default")
    key_id = real.split("-")[1]
    attempts = {
        "none": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "garbage": {"Authorization": "Bearer not-a-key"},
        "bad id": {"Authorization": "Bearer aiaas-../../etc-secret"},
        "unknown id": {"Authorization": "Bearer aiaas-0123456789abcdef-secret"},
        "wrong secret": {"Authorization": f"Bearer aiaas-{key_id}-{'x' * 43}"},
        "prefix only": {"Authorization": f"Bearer {real[:-1]}"},
    }
    for label, headers in attempts.items():
        for request in (server.client.get(MODELS, headers=headers),
                        server.client.post(f"{MODELS}/iris/versions", content=iris_tar(),
                                           headers=headers)):
            response = await request
            assert_error(response, 401, "unauthenticated")
            assert response.headers.get("www-authenticate") == "Bearer", label
    server.assert_nothing_stored()


async def test_revoked_key_is_refused_at_once(server: Server) -> None:
    created = server.api.services.keys.create(Principal.system(), name="soon-revoked", tenant="default")
    headers = server.auth(created.secret)
    assert (await server.client.get(MODELS, headers=headers)).status_code == 200
    revoked = await server.client.delete(f"/api/v1/keys/{created.info.id}", headers=server.auth())
    assert revoked.status_code == 200
    assert_error(await server.client.get(MODELS, headers=headers), 401, "unauthenticated",
                 "revoked")
    assert_error(await server.upload("iris", iris_tar(), key=created.secret), 401)
    server.assert_nothing_stored()


async def test_expired_key_is_refused(server: Server) -> None:
    """Expiry holds to the second, also for a key the server has just verified (and cached)."""
    services = server.api.services
    created = services.keys.create(Principal.system(), name="expiring", tenant="default",
                                   expires_at=utcnow() + timedelta(seconds=1))
    headers = server.auth(created.secret)
    assert (await server.client.get(MODELS, headers=headers)).status_code == 200
    await asyncio.sleep(1.1)
    assert_error(await server.client.get(MODELS, headers=headers), 401, "unauthenticated",
                 "expired")
    assert_error(await server.predict("iris", key=created.secret), 401)


async def test_feature_names_are_the_iris_ones(server: Server) -> None:
    """Guards the helpers: the manifest the threat tests rely on is what the model serves."""
    response = await server.upload("iris", iris_tar())
    assert response.status_code == 201
    schema = response.json()["input_schema"]
    assert schema["items"]["required"] == IRIS_FEATURES
