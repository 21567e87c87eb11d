"""The content-addressed store: staging then one rename, read-only artifacts, digests that are
only ever digests, and removal that never leaves a half-deleted artifact in place."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aiaas.errors import Invalid, NotFound, UnsafeArtifact
from aiaas.formats.files import iter_files
from aiaas.registry.store import ArtifactStore, directory_digest
from tests.registry.conftest import write_tree

FILES = {"model.onnx": b"onnx", "sub/aiaas.json": b"{}"}


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")


def staged(store: ArtifactStore, files: dict[str, bytes] = FILES) -> Path:
    return write_tree(store.staging_dir(), files)


def artifacts(store: ArtifactStore) -> list[Path]:
    return [p for p in store.root.glob("*/*") if p.is_dir()]


def test_staging_dirs_live_in_the_tmp_dir(store: ArtifactStore) -> None:
    path = store.staging_dir()
    assert path.parent == store.tmp_dir
    assert path != store.staging_dir()


def test_a_staging_block_removes_its_dir_on_success_and_on_failure(store: ArtifactStore) -> None:
    with store.staging() as path:
        assert path.parent == store.tmp_dir and path.name.startswith("stage-")
        write_tree(path, FILES)
        (path / "model.onnx").chmod(0o444)
    assert not path.exists()
    with pytest.raises(RuntimeError), store.staging() as path:
        write_tree(path, FILES)
        raise RuntimeError("a step failed")
    assert list(store.tmp_dir.iterdir()) == []


def test_a_staging_block_whose_tree_went_into_the_store_ends_quietly(store: ArtifactStore) -> None:
    with store.staging() as path:
        digest, _ = store.put_staged(write_tree(path, FILES))
    assert store.open(digest).is_dir() and list(store.tmp_dir.iterdir()) == []


def test_put_staged_moves_the_tree_into_its_digest(store: ArtifactStore) -> None:
    source = staged(store)
    expected = directory_digest(source)
    digest, size = store.put_staged(source)
    assert (digest, size) == expected
    assert size == sum(len(v) for v in FILES.values())
    assert not source.exists()
    path = store.open(digest)
    assert path == store.root / digest[:2] / digest
    assert {p.relative_to(path).as_posix(): p.read_bytes() for p in iter_files(path)} == FILES
    assert directory_digest(path) == expected
    assert list(store.tmp_dir.iterdir()) == []


def test_artifacts_are_read_only(store: ArtifactStore) -> None:
    digest, _ = store.put_staged(staged(store))
    path = store.open(digest)
    for item in [path, *path.rglob("*")]:
        mode = stat.S_IMODE(item.stat().st_mode)
        assert mode & 0o222 == 0, f"{item.relative_to(store.root)} is writable ({oct(mode)})"
    assert stat.S_IMODE((path / "model.onnx").stat().st_mode) == 0o444
    assert stat.S_IMODE((path / "sub").stat().st_mode) == 0o555


def test_identical_trees_share_one_artifact(store: ArtifactStore) -> None:
    first = store.put_staged(staged(store))
    second = store.put_staged(staged(store))
    assert first == second
    assert len(artifacts(store)) == 1
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("changed", [
    {"model.onnx": b"onnX", "sub/aiaas.json": b"{}"},
    {"model2.onnx": b"onnx", "sub/aiaas.json": b"{}"},
    {"model.onnx": b"onnx", "aiaas.json": b"{}"},
])
def test_digest_covers_names_and_contents(store: ArtifactStore, changed: dict[str, bytes]) -> None:
    first, _ = store.put_staged(staged(store))
    second, _ = store.put_staged(staged(store, changed))
    assert first != second
    assert len(artifacts(store)) == 2


def test_a_staging_dir_never_renamed_is_not_an_artifact(store: ArtifactStore) -> None:
    """A crash between writing and the rename leaves only tmp files: nothing the store serves."""
    source = staged(store)
    digest, _ = directory_digest(source)
    with pytest.raises(NotFound):
        store.open(digest)
    assert artifacts(store) == []
    assert source.is_relative_to(store.tmp_dir)
    assert not source.is_relative_to(store.root)


def test_failed_rename_leaves_no_artifact_and_a_removable_staging_dir(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = staged(store)
    digest, _ = directory_digest(source)

    def fail(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "rename", fail)
    with pytest.raises(OSError, match="No space"):
        store.put_staged(source)
    monkeypatch.undo()
    with pytest.raises(NotFound):
        store.open(digest)
    assert artifacts(store) == []
    for item in [source, *source.rglob("*")]:
        if item.is_dir():
            assert stat.S_IMODE(item.stat().st_mode) & 0o200, "the caller could not delete it"


def test_lost_rename_race_keeps_the_winner(store: ArtifactStore,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Two identical uploads at once: the second rename fails because the first one landed."""
    winner = staged(store)
    loser = staged(store)
    real_rename = Path.rename

    def racing(self: Path, target: Path) -> Path:
        if self == loser:
            real_rename(winner, target)
            raise OSError(39, "Directory not empty")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", racing)
    digest, _ = store.put_staged(loser)
    monkeypatch.undo()
    assert store.open(digest).is_dir()
    assert not loser.exists()
    assert len(artifacts(store)) == 1


@pytest.mark.parametrize("digest", ["", "abc", "../" + "a" * 61, "A" * 64, "a" * 63 + "/",
                                    "a" * 64 + "\n", "a" * 65, "/" + "a" * 63, "g" * 64])
def test_only_a_sha256_digest_names_a_path(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(Invalid, match="not a sha256 digest"):
        store.path_of(digest)
    with pytest.raises(Invalid):
        store.open(digest)
    with pytest.raises(Invalid):
        store.remove(digest)


def test_open_of_an_unknown_digest_is_not_found(store: ArtifactStore) -> None:
    with pytest.raises(NotFound, match="missing from the store"):
        store.open("a" * 64)


def test_remove_deletes_a_read_only_artifact_completely(store: ArtifactStore) -> None:
    digest, _ = store.put_staged(staged(store))
    store.remove(digest)
    with pytest.raises(NotFound):
        store.open(digest)
    assert artifacts(store) == []
    assert list(store.tmp_dir.iterdir()) == []
    store.remove(digest)  # removing twice is fine


def test_put_copy_leaves_the_source_alone(store: ArtifactStore, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", FILES)
    digest, _ = store.put_copy(source)
    assert {p.relative_to(source).as_posix(): p.read_bytes() for p in iter_files(source)} == FILES
    assert directory_digest(store.open(digest))[0] == digest
    assert list(store.tmp_dir.iterdir()) == []


def test_put_copy_does_not_share_or_change_the_source_files(store: ArtifactStore,
                                                             tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", FILES)
    (source / "model.onnx").chmod(0o640)
    digest, _ = store.put_copy(source)
    copied = store.open(digest) / "model.onnx"
    assert stat.S_IMODE((source / "model.onnx").stat().st_mode) == 0o640
    assert copied.stat().st_ino != (source / "model.onnx").stat().st_ino
    (source / "model.onnx").write_bytes(b"changed later")
    assert copied.read_bytes() == b"onnx"


def test_put_copy_refuses_a_link_and_cleans_up(store: ArtifactStore, tmp_path: Path) -> None:
    source = write_tree(tmp_path / "source", FILES)
    (source / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArtifact, match="symbolic link"):
        store.put_copy(source)
    assert artifacts(store) == []
    assert list(store.tmp_dir.iterdir()) == []


def test_special_files_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", FILES)
    os.mkfifo(root / "pipe")
    with pytest.raises(UnsafeArtifact, match="special file"):
        iter_files(root)


def test_linked_directories_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", FILES)
    (root / "etc").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(UnsafeArtifact, match="symbolic link"):
        directory_digest(root)
