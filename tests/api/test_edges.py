"""The HTTP edges of a real ``aiaas serve`` process, over raw sockets and httpx: clients that
leave, clients that send slowly, too many connections, oversized headers, overload refusals and
the docs' security headers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, stop_server
from tests.serve_cli import serve

HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 2
PER_CLIENT = 40
IN_FLIGHT = 3
IN_FLIGHT_WAIT_S = 0.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = serve(tmp_path_factory.mktemp("edges") / "data",
                 AIAAS_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
                 AIAAS_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S), AIAAS_BODY_MIN_RATE="100",
                 AIAAS_MAX_CONNECTIONS_PER_CLIENT=str(PER_CLIENT),
                 AIAAS_MAX_IN_FLIGHT=str(IN_FLIGHT), AIAAS_IN_FLIGHT_WAIT_S=str(IN_FLIGHT_WAIT_S))
    yield live
    stop_server(live)


def _port(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _log(server: LiveServer) -> str:
    return (server.data_dir.parent / "server.log").read_text()


def _statuses(server: LiveServer) -> dict[str, float]:
    """``aiaas_http_requests_total`` summed by status."""
    with server.client() as client:
        text = client.get("/metrics").text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("aiaas_http_requests_total{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            totals[status] = totals.get(status, 0) + float(line.rsplit(" ", 1)[1])
    return totals


def _head(server: LiveServer, method: str, path: str, length: int, *, key: str | None = None,
          extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: aiaas\r\n"
            f"Authorization: Bearer {key or server.admin_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n").encode()


def _until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Read until the server closes the socket; what it sent and how long that took."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received, time.monotonic() - started


def test_clients_that_leave_are_not_server_errors(server: LiveServer) -> None:
    port = _port(server)
    for path, sent in (("/api/v1/models/nothing/predict", b'{"inputs": ['),
                       ("/api/v1/models/iris/versions", b"\x1f\x8b" + b"\0" * 200_000),
                       ("/api/v1/keys", b'{"name": "x"')):
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(_head(server, "POST", path, 5_000_000) + sent)
                time.sleep(0.2)
    with server.client() as client:  # a response cut off mid-stream: a job's event stream
        job = client.post("/api/v1/jobs", json={
            "task": "tabular-classification", "dataset": "builtin:iris", "name": "edge"})
        assert job.status_code in {200, 201, 202}, job.text
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"GET /api/v1/jobs/{job.json()['id']}/events HTTP/1.1\r\nHost: a\r\n"
                         f"Authorization: Bearer {server.admin_key}\r\n\r\n".encode())
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(1.5)
    statuses = _statuses(server)
    assert statuses.get("499", 0) >= 9 + 3, statuses
    assert not any(status.startswith("5") for status in statuses), statuses
    assert "Traceback" not in _log(server)


def test_slow_headers_are_cut_off_and_others_served(server: LiveServer) -> None:
    """Slowloris: connections trickling header bytes are closed within the header timeout
    (408), while a normal client is served at once."""
    port = _port(server)
    count = 20

    async def trickle() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        received = b""
        try:
            while time.monotonic() - started < HEADER_TIMEOUT_S + 20:
                writer.write(b"a")
                await writer.drain()
                try:
                    received = await asyncio.wait_for(reader.read(65536), 1)
                    break
                except TimeoutError:
                    continue
        except ConnectionError:
            pass
        finally:
            writer.close()
        return received, time.monotonic() - started

    async def main() -> tuple[list[tuple[bytes, float]], float]:
        tasks = [asyncio.create_task(trickle()) for _ in range(count)]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/healthz")).status_code == 200
        served_in = time.monotonic() - started
        return await asyncio.gather(*tasks), served_in

    results, served_in = asyncio.run(main())
    assert served_in < 2
    for received, took in results:
        assert received.startswith(b"HTTP/1.1 408"), received
        assert HEADER_TIMEOUT_S - 0.5 < took < HEADER_TIMEOUT_S + 8, took


def test_slow_bodies_are_cut_off(server: LiveServer) -> None:
    """A body arriving at a byte a second falls behind ``body_min_rate`` and is closed."""
    with socket.create_connection(("127.0.0.1", _port(server))) as sock:
        sock.sendall(_head(server, "POST", "/api/v1/models/nothing/predict", 100_000))
        started = time.monotonic()
        sock.settimeout(1)
        received = b""
        while time.monotonic() - started < BODY_TIMEOUT_S + 20 and not received:
            try:
                sock.sendall(b" ")
                received = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionError:
                break
        took = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received
    assert BODY_TIMEOUT_S - 0.5 < took < BODY_TIMEOUT_S + 8
    assert "Traceback" not in _log(server)


def test_connections_per_client_are_capped(server: LiveServer) -> None:
    port = _port(server)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            received, _ = _until_closed(extra, 10)
        assert received.startswith(b"HTTP/1.1 429"), received
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


def test_oversized_headers_are_refused(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/healthz", headers={"X-Big": "a" * 8_000}).status_code == 200
    with socket.create_connection(("127.0.0.1", _port(server))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n")
        try:
            for _ in range(40):  # 40 KB of headers, in pieces: the bound holds across reads
                sock.sendall(b"X-Big: " + b"a" * 1000 + b"\r\n")
                time.sleep(0.01)
        except ConnectionError:
            pass
        received, _ = _until_closed(sock, 10)
    assert received.startswith(b"HTTP/1.1 431"), received
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200


@pytest.mark.parametrize("last_event_id", ["9" * 30, "1" * 10_000, "-1", "abc"])
def test_odd_last_event_ids_are_no_server_error(server: LiveServer, last_event_id: str) -> None:
    with server.client() as client:
        job = client.post("/api/v1/jobs", json={
            "task": "tabular-classification", "dataset": "builtin:iris", "name": "lei"}).json()
        with client.stream("GET", f"/api/v1/jobs/{job['id']}/events",
                           headers={"Last-Event-ID": last_event_id}) as response:
            assert response.status_code < 500
            if response.status_code == 200:
                lines = response.iter_lines()
                assert next(lines) is not None
    assert not any(status.startswith("5") for status in _statuses(server))


def test_overload_waits_then_is_refused_before_the_body_is_read(server: LiveServer) -> None:
    """Past ``max_in_flight`` a call waits up to ``in_flight_wait_s`` for a slot, then gets a 503
    with Retry-After, its body unread; reads still pass; a slot freed in time is handed over."""
    port = _port(server)
    held = []
    for _ in range(IN_FLIGHT):  # in flight: the app waits for the rest of each body
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(_head(server, "POST", "/api/v1/models/nothing/predict", 1000) + b'{"in')
        held.append(sock)
    time.sleep(0.5)
    try:
        with server.client() as client:
            started = time.monotonic()
            refused = client.post("/api/v1/models/nothing/predict", json={"inputs": ["x"]})
            assert IN_FLIGHT_WAIT_S - 0.1 < time.monotonic() - started < IN_FLIGHT_WAIT_S + 3
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["code"] == "unavailable"
            assert client.get("/api/v1/models").status_code == 200
            openai = client.post("/v1/embeddings", json={"model": "nothing", "input": "x"})
            assert openai.status_code == 503 and openai.json()["error"]["type"] == "server_error"

            async def admitted_when_a_slot_frees() -> httpx.Response:
                async with httpx.AsyncClient(base_url=server.url, headers=client.headers,
                                             timeout=30) as async_client:
                    waiting = asyncio.create_task(async_client.post(
                        "/api/v1/models/nothing/predict", json={"inputs": ["x"]}))
                    await asyncio.sleep(0.1)
                    held.pop().close()
                    return await waiting

            assert asyncio.run(admitted_when_a_slot_frees()).status_code == 404
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    with server.client() as client:
        assert client.post("/api/v1/models/nothing/predict",
                           json={"inputs": ["x"]}).status_code == 404


def test_docs_send_security_headers(server: LiveServer) -> None:
    with server.client() as client:
        page = client.get("/docs")
        denied = httpx.get(f"{server.url}/docs")
        schema = client.get("/openapi.json")
        asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert page.status_code == 200 and denied.status_code == 401
    for response in (page, denied, schema, asset):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "unsafe-eval" not in policy
    assert "default-src 'none'" in denied.headers["content-security-policy"]
