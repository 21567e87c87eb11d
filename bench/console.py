"""How fast the console's pages are, on a real server over HTTP, signed in as an admin.

    python bench/console.py [--runs 30]

- **First byte**: for each page, the time from sending the request to the first byte of the
  answer (headers and the start of the body), over ``--runs`` requests on one kept-alive
  connection after 3 warm-up requests; p50 and p95. Target: < 100 ms.
- **Weight**: the JS and CSS each page links (``<script src>``, ``<link rel=stylesheet>``),
  fetched with ``Accept-Encoding: gzip`` as a browser does: the compressed bytes on the wire.
  Target: < 250 KB per page.

The server has the built-in models registered (nothing loaded), a few usage rows, SQLite.
Prints JSON, also written to bench/results/console.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).parent / "results" / "console.json"
PAGES = ["/sign-in", "/", "/models", "/models/all-minilm-l6-v2", "/models-upload", "/keys",
         "/usage", "/playground", "/playground/chat", "/playground/embeddings",
         "/playground/classify?model=breast-cancer-diagnosis", "/playground/speech",
         "/playground/forecast", "/datasets", "/jobs", "/jobs/new", "/evaluations"]
ASSET = re.compile(r'<script[^>]+src="([^"]+)"|<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    from aiaas.auth.principal import Principal
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data_dir))
    key = services.keys.create(Principal.system(), name="bench", admin=True).secret
    services.db.dispose()
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_EMBEDDED_WORKER": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "aiaas.api.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the server did not become ready in 180 s")


def first_byte_ms(client: httpx.Client, path: str) -> tuple[float, int]:
    start = time.perf_counter()
    with client.stream("GET", path) as response:
        chunks = response.iter_raw()
        next(chunks, b"")
        elapsed = (time.perf_counter() - start) * 1000
        for _ in chunks:
            pass
    return elapsed, response.status_code


def weight(client: httpx.Client, html: str) -> tuple[int, list[str]]:
    assets = [a or b for a, b in ASSET.findall(html)]
    total = 0
    for asset in assets:
        with client.stream("GET", asset, headers={"Accept-Encoding": "gzip"}) as response:
            total += sum(len(chunk) for chunk in response.iter_raw())
    return total, assets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, url, key = start_server(Path(tmp) / "data")
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for _ in range(5):  # a little usage for the overview and usage pages to read
                    client.post("/api/v1/models/breast-cancer-diagnosis/predict",
                                headers={"Authorization": f"Bearer {key}"},
                                json={"inputs": [[0.0] * 30]})
                signed = client.post("/sign-in", data={"api_key": key, "next": "/"},
                                     headers={"Origin": url})
                assert signed.status_code == 303, signed.text
                pages: dict[str, Any] = {}
                for path in PAGES:
                    for _ in range(3):
                        first_byte_ms(client, path)
                    times, status = [], 0
                    for _ in range(args.runs):
                        elapsed, status = first_byte_ms(client, path)
                        times.append(elapsed)
                    times.sort()
                    kb, assets = weight(client, client.get(path).text)
                    pages[path] = {
                        "status": status, "first_byte_p50_ms": round(statistics.median(times), 1),
                        "first_byte_p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
                        "js_css_gzip_kb": round(kb / 1024, 1), "assets": assets}
        finally:
            server.terminate()
            server.wait(30)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cpus", "runs": args.runs,
              "pages": pages,
              "worst_first_byte_p95_ms": max(p["first_byte_p95_ms"] for p in pages.values()),
              "heaviest_page_kb": max(p["js_css_gzip_kb"] for p in pages.values())}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
