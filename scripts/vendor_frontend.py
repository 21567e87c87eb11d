"""Fetch the console's front-end libraries from the npm registry, check them against the pinned
integrity hashes below and copy the files the console serves, with their licences, into
``src/aiaas/api/console/static/vendor/``. Run it to refresh or verify what is committed there:

    python scripts/vendor_frontend.py           # download, verify, write
    python scripts/vendor_frontend.py --check   # verify the committed copies only (no network)

The console has no build step: these files are served as they are.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "src/aiaas/api/console/static/vendor"
PACKAGES = {
    # name: (version, npm integrity of the tarball, {file in the tarball: name served})
    "uplot": ("1.6.32",
              "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
              {"package/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
               "package/dist/uPlot.min.css": "uPlot.min.css",
               "package/LICENSE": "LICENSE"}),
    # The API reference page (/docs): Swagger UI 5 reads the OpenAPI 3.1 the app describes itself in.
    "swagger-ui-dist": ("5.36.0",
                        "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
                        {"package/swagger-ui-bundle.js": "swagger-ui-bundle.js",
                         "package/swagger-ui.css": "swagger-ui.css",
                         "package/favicon-32x32.png": "favicon-32x32.png",
                         "package/LICENSE": "LICENSE"}),
}
LOCK = VENDOR / "vendor.lock.json"


def _fetch(name: str, version: str, integrity: str) -> bytes:
    url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URL)
        data: bytes = response.read()
    algorithm, expected = integrity.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        sys.exit(f"{name} {version}: integrity mismatch ({actual} != {expected})")
    return data


def vendor() -> None:
    lock: dict[str, dict[str, object]] = {}
    for name, (version, integrity, files) in PACKAGES.items():
        target = VENDOR / f"{name}-{version}"
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(_fetch(name, version, integrity))) as archive:
            sums = {}
            for member, served in files.items():
                extracted = archive.extractfile(member)
                if extracted is None:
                    sys.exit(f"{name}: {member} is not a file")
                content = extracted.read()
                (target / served).write_bytes(content)
                sums[served] = hashlib.sha256(content).hexdigest()
        lock[name] = {"version": version, "integrity": integrity, "sha256": sums}
    LOCK.write_text(json.dumps(lock, indent=2) + "\n")


def check() -> None:
    lock = json.loads(LOCK.read_text())
    for name, entry in lock.items():
        for served, digest in entry["sha256"].items():
            path = VENDOR / f"{name}-{entry['version']}" / served
            if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                sys.exit(f"{path} does not match vendor.lock.json")
    print("vendored files match vendor.lock.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    if parser.parse_args().check:
        check()
    else:
        vendor()
        check()
