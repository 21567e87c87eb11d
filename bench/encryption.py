"""Cost of encryption at rest, in one run: model load time and dataset upload throughput on a
sealed data dir against a plain one.

    python bench/encryption.py [--rounds 5] [--upload-mb 64] [--uploads-only]

- **Load time**: a tenant's copy of the built-in embedder (all-MiniLM-L6-v2, sentence-
  transformers, 87 MiB) and of the breast-cancer tabular model (ONNX) are registered in two
  data dirs, one with ``AIAAS_ENCRYPT_AT_REST=true`` and one with ``false``, and loaded once
  each beforehand (the ONNX export is built and cached: plain in ``compiled/``, sealed in
  ``compiled/sealed/``). Each round then starts a fresh process per data dir (alternating
  which goes first) and times the first load, as after a restart: the sealed one decrypts the
  artifact and the cached export into memory-backed space first. Import time is excluded.
- **Upload**: the same CSV (20 numeric columns and a label, ``--upload-mb`` MiB) and a ZIP of
  PNG images, stored through ``DatasetStore.add_file`` (receive, hash, parse, validate,
  statistics, and for the sealed dir encryption into the data dir) on each data dir in turn;
  throughput = file size / wall time, median over rounds. The sealing step alone is timed too
  (``Sealer.seal_file`` of the CSV), and so is the CSV's reading step alone (parse, validate,
  statistics, in this process): ``csv_read_mb_s.columnar`` is the path uploads take (pyarrow,
  ``aiaas.training.datasets.columnar``), ``csv_read_mb_s.exact`` the ``csv``-module path it
  falls back to (``parsing`` then ``validation``), which every CSV took before.

``--uploads-only`` skips the load times (and the models they need): the upload figures alone.

Prints JSON, also written to bench/results/encryption.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "encryption.json"
TENANT = "bench"
MODELS = {"embedder": "all-minilm-l6-v2", "tabular": "breast-cancer-diagnosis"}


def settings(data_dir: Path, sealed: bool) -> Any:
    from aiaas.config import Settings

    return Settings(data_dir=data_dir, builtin_models=False, encrypt_at_rest=sealed,
                    embedded_worker=False, log_json=False, gc_freeze=False, torch_threads=2)


def prepare(data_dir: Path, sealed: bool) -> None:
    """Register the tenant's copies and build their cached exports once."""
    import asyncio

    from aiaas.auth.principal import BUILTIN_TENANT
    from aiaas.builtin import ensure_builtins
    from aiaas.services import Services

    services = Services.build(settings(data_dir, sealed))
    ensure_builtins(services.registry, only=list(MODELS.values()))
    for name, builtin in MODELS.items():
        version = services.registry.resolve(BUILTIN_TENANT, builtin)
        services.registry.register(services.registry.store.open(version.sha256), tenant=TENANT,
                                   name=name, created_by="bench")
    asyncio.run(load_all(services))
    services.db.dispose()


async def load_all(services: Any) -> dict[str, float]:
    timings = {}
    for name in MODELS:
        version = services.registry.resolve(TENANT, name)
        started = time.perf_counter()
        await services.placement.replica_for(version)
        timings[name] = time.perf_counter() - started
        await services.placement.stop()
    return timings


def one_load(data_dir: Path, sealed: bool) -> dict[str, float]:
    """In a fresh process: each model's first load (what a restart pays)."""
    import asyncio

    from aiaas.runtime import process
    from aiaas.services import Services

    services = Services.build(settings(data_dir, sealed))
    process.configure(2)
    timings = asyncio.run(load_all(services))
    services.db.dispose()
    return timings


def child_load(data_dir: Path, sealed: bool) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--one-load", str(data_dir),
                           "--sealed" if sealed else "--plain"], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def make_csv(path: Path, megabytes: int) -> None:
    rng = random.Random(7)
    with path.open("w") as out:
        out.write(",".join(f"f{i}" for i in range(20)) + ",label\n")
        while out.tell() < megabytes * 1024 * 1024:
            rows = [",".join(f"{rng.random():.6f}" for _ in range(20)) + f",{'xy'[rng.random() < .5]}"
                    for _ in range(10_000)]
            out.write("\n".join(rows) + "\n")


def make_zip(path: Path, images: int) -> None:
    from PIL import Image

    rng = random.Random(3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(images):
            pixels = bytes(rng.getrandbits(8) for _ in range(64 * 64 * 3))
            buffer = io.BytesIO()
            Image.frombytes("RGB", (64, 64), pixels).save(buffer, format="PNG")
            archive.writestr(f"{'ab'[i % 2]}/{i}.png", buffer.getvalue())


def upload(data_dir: Path, sealed: bool, source: Path, round_no: int) -> float:
    from aiaas.training import wiring

    core = wiring.build(settings(data_dir, sealed))
    core.datasets.max_upload_bytes = 10 * source.stat().st_size
    started = time.perf_counter()
    record = core.datasets.add_file(source, tenant=TENANT, created_by="bench",
                                    name=f"{source.stem}-{round_no}-{int(sealed)}",
                                    **({"label": "label"} if source.suffix == ".csv" else {}))
    elapsed = time.perf_counter() - started
    core.datasets.delete(TENANT, record.id)
    core.db.dispose()
    return source.stat().st_size / elapsed / 1e6


def seal_only(data_dir: Path, source: Path) -> float:
    from aiaas.training import wiring

    core = wiring.build(settings(data_dir, True))
    assert core.vault.sealer is not None
    target = data_dir / "tmp" / "seal-bench"
    started = time.perf_counter()
    core.vault.sealer.seal_file(source, target, TENANT, "bench")
    elapsed = time.perf_counter() - started
    target.unlink()
    core.db.dispose()
    return source.stat().st_size / elapsed / 1e6


def read_only(source: Path, columnar: bool) -> float:
    """The CSV's parse, validation and statistics alone, as an upload runs them."""
    from aiaas.training.datasets import columnar as fast
    from aiaas.training.datasets import parsing, validation
    from aiaas.training.datasets.stats import table_stats

    started = time.perf_counter()
    checked = fast.read_checked(source, "csv", label="label") if columnar else None
    if checked is None:
        assert not columnar, "the columnar path declined the bench CSV"
        checked = validation.check_table(parsing.read_table(source, "csv"), label="label")
    table_stats(checked.frame, checked.columns, label=checked.label,
                split_column=checked.split_column)
    return source.stat().st_size / (time.perf_counter() - started) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--upload-mb", type=int, default=64)
    parser.add_argument("--one-load")
    parser.add_argument("--sealed", action="store_true")
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--uploads-only", action="store_true")
    args = parser.parse_args()
    if args.one_load:
        print(json.dumps(one_load(Path(args.one_load), args.sealed)))
        return
    work = Path(tempfile.mkdtemp(prefix="aiaas-bench-enc-"))
    dirs = {True: work / "sealed", False: work / "plain"}
    for sealed, data_dir in dirs.items():
        if not args.uploads_only:
            prepare(data_dir, sealed)
    csv, archive = work / "table.csv", work / "images.zip"
    make_csv(csv, args.upload_mb)
    make_zip(archive, 2000)
    loads: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
    uploads: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
    sealing: list[float] = []
    reading: dict[str, list[float]] = {"columnar": [], "exact": []}
    for round_no in range(args.rounds):
        order = [True, False] if round_no % 2 == 0 else [False, True]
        for sealed in order:
            if not args.uploads_only:
                for name, seconds in child_load(dirs[sealed], sealed).items():
                    loads[sealed].setdefault(name, []).append(seconds)
            for source in (csv, archive):
                uploads[sealed].setdefault(source.suffix[1:], []).append(
                    upload(dirs[sealed], sealed, source, round_no))
        sealing.append(seal_only(dirs[True], csv))
        for path in ("columnar", "exact"):
            reading[path].append(read_only(csv, path == "columnar"))
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rounds": args.rounds, "csv_mb": round(csv.stat().st_size / 1e6, 1),
        "zip_mb": round(archive.stat().st_size / 1e6, 1),
        "load_s": {}, "upload_mb_s": {}, "seal_only_mb_s": round(statistics.median(sealing), 1),
        "csv_read_mb_s": {path: round(statistics.median(mb_s), 1)
                          for path, mb_s in reading.items()},
    }
    for name in MODELS if not args.uploads_only else ():
        plain, sealed_s = (statistics.median(loads[s][name]) for s in (False, True))
        result["load_s"][name] = {"plain": round(plain, 3), "sealed": round(sealed_s, 3),
                                  "added": f"{100 * (sealed_s / plain - 1):+.1f}%"}
    for kind in ("csv", "zip"):
        plain, sealed_mb = (statistics.median(uploads[s][kind]) for s in (False, True))
        result["upload_mb_s"][kind] = {"plain": round(plain, 1), "sealed": round(sealed_mb, 1)}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
