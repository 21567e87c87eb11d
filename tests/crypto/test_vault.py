"""The vault as the stores use it, on a real data dir and database: sealed datasets and model
artifacts, working copies in private memory-backed space, plain files refused where sealed
ones belong, and a plain data dir migrated."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aiaas.at_rest import migrate
from aiaas.config import Settings
from aiaas.crypto.sealed import MAGIC
from aiaas.crypto.workspace import Workspace
from aiaas.errors import StoredDataCorrupt
from aiaas.training import wiring
from aiaas.training.wiring import Core
from tests.registry.conftest import iris_files, write_tree

CSV = b"text,label\n" + b"".join(b"note %d secret-canary,%s\n" % (i, b"ab"[i % 2:i % 2 + 1])
                                 for i in range(20))


def core_on(data_dir: Path, *, sealed: bool = True) -> Core:
    return wiring.build(Settings(data_dir=data_dir, builtin_models=False, encrypt_at_rest=sealed))


def add_dataset(core: Core, tmp_path: Path) -> str:
    source = tmp_path / "notes.csv"
    source.write_bytes(CSV)
    return core.datasets.add_file(source, tenant="acme", created_by="t", label="label").id


def register(core: Core, tmp_path: Path) -> object:
    return core.registry.register(write_tree(tmp_path / "iris", iris_files()), tenant="acme",
                                  name="iris", created_by="t")


def test_datasets_and_models_are_sealed_and_read_back(tmp_path: Path) -> None:
    core = core_on(tmp_path / "data")
    dataset = add_dataset(core, tmp_path)
    stored = tmp_path / "data" / "datasets" / dataset / "original.csv"
    assert stored.read_bytes().startswith(MAGIC) and b"secret-canary" not in stored.read_bytes()
    loaded = core.datasets.load(core.datasets.get("acme", dataset))
    assert len(loaded.frame) == 20  # type: ignore[attr-defined]

    version = register(core, tmp_path)
    copy = core.registry.artifact_path(version)  # type: ignore[arg-type]
    assert (copy / "model.onnx").read_bytes() == iris_files()["model.onnx"]
    assert str(copy).startswith("/dev/shm/") and stat.S_IMODE(copy.stat().st_mode) == 0o700
    weights = iris_files()["model.onnx"][200:264]
    assert not [p for p in (tmp_path / "data").rglob("*")
                if p.is_file() and weights in p.read_bytes()]
    core.registry.release_artifact(version)  # type: ignore[arg-type]
    assert not copy.exists()
    core.db.dispose()


def test_a_plain_file_in_a_sealed_place_is_refused(tmp_path: Path) -> None:
    core = core_on(tmp_path / "data")
    assert not core.vault.plain_allowed  # sealed from its first start
    dataset = add_dataset(core, tmp_path)
    stored = tmp_path / "data" / "datasets" / dataset / "original.csv"
    stored.write_bytes(CSV.replace(b"note", b"poisoned"))
    with pytest.raises(StoredDataCorrupt, match="not sealed"):
        core.datasets.load(core.datasets.get("acme", dataset))

    version = register(core, tmp_path)
    core.registry.store.remove(core.registry.artifacts.stored_name(version))  # type: ignore[arg-type]
    core.registry.store.put_copy(write_tree(tmp_path / "fake", iris_files()))
    with pytest.raises(StoredDataCorrupt, match="not sealed where sealed ones belong"):
        core.registry.artifact_path(version)  # type: ignore[arg-type]
    core.db.dispose()


def test_a_plain_data_dir_reads_until_migrated_then_is_sealed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = core_on(data, sealed=False)
    dataset = add_dataset(plain, tmp_path)
    version = register(plain, tmp_path)
    plain.db.dispose()

    core = core_on(data)
    assert core.vault.plain_allowed  # it held tenant data before encryption was on
    assert len(core.datasets.load(core.datasets.get("acme", dataset)).frame) == 20  # type: ignore[attr-defined]
    steps: list[int] = []
    files, artifacts = migrate(core, start=steps.append, tick=steps.append)
    assert (files, artifacts) == (1, 1) and steps[0] == 2
    assert not core.vault.plain_allowed
    assert (data / "datasets" / dataset / "original.csv").read_bytes().startswith(MAGIC)
    assert not core.registry.store.path_of(version.sha256).exists()  # type: ignore[attr-defined]
    copy = core.registry.artifact_path(version)  # type: ignore[arg-type]
    assert (copy / "model.onnx").read_bytes() == iris_files()["model.onnx"]
    assert migrate(core, start=steps.append, tick=steps.append) == (0, 0)  # a rerun: nothing left
    core.db.dispose()


def test_the_workspace_is_private_and_a_dead_owner_is_swept(tmp_path: Path) -> None:
    root = tmp_path / "shm"
    root.mkdir()
    dead = root / f"aiaas-{os.getuid()}" / "999999-deadbeef"
    dead.mkdir(parents=True)
    (dead.parent / "999999-deadbeef.lock").touch()
    (dead / "weights.bin").write_bytes(b"plain")
    workspace = Workspace(root)
    assert not dead.exists()
    assert stat.S_IMODE(workspace.root.stat().st_mode) == 0o700
    live = Workspace(root)
    assert workspace.dir.exists(), "a live owner's dir is never swept"
    live.close()
    workspace.close()
    assert not workspace.dir.exists()


def test_deferred_weights_are_decrypted_only_when_asked(tmp_path: Path) -> None:
    from aiaas.crypto.checkouts import DEFER_BYTES, materialize

    core = core_on(tmp_path / "data")
    weights = os.urandom(DEFER_BYTES + 1)
    tree = write_tree(tmp_path / "tree", {"model.safetensors": weights, "config.json": b"{}"})
    sealed = tmp_path / "sealed"
    core.vault.seal_tree(tree, sealed, "acme", "artifact")
    copy = core.vault.checkout(sealed, "acme", "artifact", defer_weights=True)
    assert (copy / "config.json").read_bytes() == b"{}"
    assert not (copy / "model.safetensors").exists()
    materialize(copy)
    assert (copy / "model.safetensors").read_bytes() == weights
    core.vault.release(sealed)
    again = core.vault.checkout(sealed, "acme", "artifact", defer_weights=True)
    assert core.vault.checkout(sealed, "acme", "artifact") == again  # a whole copy asked for
    assert (again / "model.safetensors").read_bytes() == weights
    core.db.dispose()


def test_an_image_set_is_one_sealed_file_read_in_place(tmp_path: Path) -> None:
    import io
    import zipfile

    from PIL import Image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for i in range(6):
            png = io.BytesIO()
            Image.new("RGB", (9 + i, 7), (30 * i, 1, 2)).save(png, format="PNG")
            zf.writestr(f"{'ab'[i % 2]}/secret-canary-{i}.png", png.getvalue())
    source = tmp_path / "pics.zip"
    source.write_bytes(buffer.getvalue())
    core = core_on(tmp_path / "data")
    record = core.datasets.add_file(source, tenant="acme", created_by="t")
    stored = [p for p in (tmp_path / "data" / "datasets").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == ["original.zip"]
    assert stored[0].read_bytes().startswith(MAGIC)
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and (
        b"secret-canary" in p.read_bytes() or b"\x89PNG" in p.read_bytes())]
    loaded = core.datasets.load(core.datasets.get("acme", record.id))
    assert loaded.labels == list("aaabbb")  # type: ignore[attr-defined]
    assert [image.size for image in loaded.images] == [(9, 7), (11, 7), (13, 7),  # type: ignore[attr-defined]
                                                       (10, 7), (12, 7), (14, 7)]
    core.db.dispose()
