"""Registry behaviour on SQLite and PostgreSQL: immutable numbered versions, the production alias,
deletes that respect aliases and collect unused artifacts, content addressing, tenant isolation,
and failed registrations that leave nothing behind."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from aiaas.auth.principal import BUILTIN_TENANT, DEFAULT_SCOPES, Principal, Scope
from aiaas.db.tables import Model, ModelVersion
from aiaas.errors import Conflict, Forbidden, Invalid, NotFound, UnsafeArtifact
from aiaas.registry.records import VersionInfo
from aiaas.registry.sealing import sealed_digest
from aiaas.registry.service import Registry
from aiaas.registry.store import directory_digest
from aiaas.services import Services
from tests.registry.conftest import iris_files, write_tree

TENANT = "alpha"


def principal(tenant: str = TENANT, *scopes: Scope) -> Principal:
    """A caller's key in ``tenant``: the default scopes unless ``scopes`` are given."""
    return Principal(tenant, "key", frozenset(scopes or DEFAULT_SCOPES))


def iris_variant(seed: int) -> dict[str, bytes]:
    """The iris model with a different description: different bytes, so a different digest."""
    files = dict(iris_files())
    manifest = json.loads(files["aiaas.json"])
    files["aiaas.json"] = json.dumps({**manifest, "description": f"variant {seed}"}).encode()
    return files


def register(registry: Registry, files: dict[str, bytes], *, name: str = "iris",
             tenant: str = TENANT, move: bool = True) -> VersionInfo:
    source = write_tree(registry.store.staging_dir(), files)
    return registry.register(source, tenant=tenant, name=name, created_by="test", move=move)


def stored(registry: Registry) -> set[str]:
    """The plaintext digests of the artifacts in the store: a tenant's sealed copy (stored under
    ``sealed_digest``) counts as the digest its version row carries."""
    with registry.db.session() as session:
        pairs = session.execute(select(Model.tenant, ModelVersion.sha256)
                                .join(Model, ModelVersion.model_id == Model.id))
        plain = {sealed_digest(tenant, digest): digest for tenant, digest in pairs}
    return {plain.get(p.name, p.name) for p in registry.store.root.glob("*/*") if p.is_dir()}


def counts(services: Services) -> tuple[int, int]:
    with services.db.session() as session:
        return (session.scalar(select(func.count()).select_from(Model)) or 0,
                session.scalar(select(func.count()).select_from(ModelVersion)) or 0)


def tmp_entries(services: Services) -> list[Path]:
    return list(services.settings.tmp_dir.iterdir())


def test_versions_are_numbered_and_immutable(services: Services) -> None:
    registry = services.registry
    infos = [register(registry, iris_variant(i)) for i in range(3)]
    assert [i.version for i in infos] == [1, 2, 3]
    for info in infos:
        again = registry.resolve(TENANT, "iris", info.version)
        assert (again.sha256, again.created_at, again.config) == (
            info.sha256, info.created_at, info.config)
    assert len({i.sha256 for i in infos}) == 3
    assert stored(registry) == {i.sha256 for i in infos}
    assert tmp_entries(services) == []


def test_first_version_is_production_and_stays_so(services: Services) -> None:
    registry = services.registry
    register(registry, iris_variant(1))
    register(registry, iris_variant(2))
    model = registry.get_model(principal(), "iris")
    assert model.aliases == {"production": 1}
    assert registry.resolve(TENANT, "iris").version == 1
    assert registry.resolve(TENANT, "iris", "latest").version == 2
    assert registry.resolve(TENANT, "iris", "production").version == 1
    assert registry.resolve(TENANT, "iris", "2").version == 2


def test_deleting_the_aliased_version_is_a_conflict_and_deletes_nothing(services: Services) -> None:
    registry = services.registry
    first = register(registry, iris_variant(1))
    register(registry, iris_variant(2))
    with pytest.raises(Conflict) as caught:
        registry.delete_version(principal(), "iris", 1)
    assert "in use by alias(es) production" in caught.value.message
    assert "move the alias" in caught.value.message
    assert registry.resolve(TENANT, "iris", 1).sha256 == first.sha256
    assert registry.artifact_path(first).is_dir()
    assert counts(services) == (1, 2)


def test_move_alias_then_delete_removes_an_unshared_artifact(services: Services) -> None:
    registry = services.registry
    first = register(registry, iris_variant(1))
    second = register(registry, iris_variant(2))
    registry.set_alias(principal(), "iris", "production", 2)
    registry.delete_version(principal(), "iris", 1)
    assert [v.version for v in registry.get_model(principal(), "iris").versions] == [2]
    assert stored(registry) == {second.sha256}
    with pytest.raises(NotFound):
        registry.resolve(TENANT, "iris", 1)
    with pytest.raises(NotFound):
        registry.artifact_path(first)
    assert tmp_entries(services) == []


def test_identical_uploads_share_one_artifact_until_the_last_goes(services: Services) -> None:
    registry = services.registry
    first = register(registry, iris_files())
    second = register(registry, iris_files())
    assert second.version == 2
    assert first.sha256 == second.sha256
    assert stored(registry) == {first.sha256}
    registry.set_alias(principal(), "iris", "production", 2)
    registry.delete_version(principal(), "iris", 1)
    assert registry.artifact_path(second).is_dir(), "still used by version 2"
    registry.delete_model(principal(), "iris")
    assert stored(registry) == set()
    assert counts(services) == (0, 0)


def test_artifact_shared_across_tenants_survives_one_tenant_deleting(services: Services) -> None:
    registry = services.registry
    mine = register(registry, iris_files(), tenant="alpha")
    theirs = register(registry, iris_files(), tenant="beta")
    assert mine.sha256 == theirs.sha256
    registry.delete_model(principal("beta"), "iris")
    assert registry.artifact_path(registry.resolve("alpha", "iris")).is_dir()


def test_alias_to_a_missing_version_or_bad_alias_is_refused(services: Services) -> None:
    registry = services.registry
    register(registry, iris_files())
    with pytest.raises(NotFound):
        registry.set_alias(principal(), "iris", "staging", 7)
    for alias in ["latest", "Prod", "../x", "a/b", "x" * 65, "prod\n", ""]:
        with pytest.raises(Invalid):
            registry.set_alias(principal(), "iris", alias, 1)
    assert registry.get_model(principal(), "iris").aliases == {"production": 1}


HOSTILE_NAMES = ["../etc", "a/b", "UPPER", "x" * 129, "iris\n", "-x", ".hidden", "", "a b",
                 "a\x00b", "..", "%2e%2e"]


def test_invalid_model_names_are_refused_before_anything_is_stored(services: Services) -> None:
    for name in HOSTILE_NAMES:
        with pytest.raises(Invalid, match="invalid model name"):
            register(services.registry, iris_files(), name=name)
        with pytest.raises(NotFound):
            services.registry.get_model(principal(), name)
    assert stored(services.registry) == set()
    assert counts(services) == (0, 0)
    assert tmp_entries(services) == []


def test_hostile_version_refs_are_not_found(services: Services) -> None:
    register(services.registry, iris_files())
    for ref in ["../../x", "²", "٣", "9" * 5000, "-1", "1.0", "", "latest\n", "0"]:
        with pytest.raises(NotFound):
            services.registry.resolve(TENANT, "iris", ref)


def test_another_tenants_model_does_not_exist_for_you(services: Services) -> None:
    registry = services.registry
    register(registry, iris_files(), tenant="alpha")
    for call in (lambda: registry.get_model(principal("beta"), "iris"),
                 lambda: registry.resolve("beta", "iris", 1),
                 lambda: registry.set_alias(principal("beta"), "iris", "production", 1),
                 lambda: registry.delete_version(principal("beta"), "iris", 1),
                 lambda: registry.delete_model(principal("beta"), "iris")):
        with pytest.raises(NotFound):
            call()
    assert [m.name for m in registry.list_models(principal("beta"))] == []
    own = register(registry, iris_variant(9), tenant="beta")
    assert (own.tenant, own.version) == ("beta", 1)
    assert registry.resolve("alpha", "iris").tenant == "alpha"
    assert registry.get_model(principal("alpha"), "iris").latest_version == 1


def test_builtin_models_are_visible_but_not_changeable(services: Services) -> None:
    registry = services.registry
    builtin = register(registry, iris_files(), name="flowers", tenant=BUILTIN_TENANT)
    assert registry.resolve(TENANT, "flowers").sha256 == builtin.sha256
    for call in (lambda: registry.delete_model(principal(), "flowers"),
                 lambda: registry.delete_version(principal(), "flowers", 1),
                 lambda: registry.set_alias(principal(), "flowers", "production", 1)):
        with pytest.raises(Forbidden, match="built-in"):
            call()
    with pytest.raises(Conflict, match="built-in"):
        register(registry, iris_variant(1), name="flowers")
    assert registry.get_model(Principal.system(BUILTIN_TENANT), "flowers").latest_version == 1
    assert stored(registry) == {builtin.sha256}, "the refused upload left its artifact behind"
    assert tmp_entries(services) == []


def test_unsafe_upload_leaves_store_and_tmp_clean(services: Services) -> None:
    registry = services.registry
    with pytest.raises(UnsafeArtifact, match=re.escape("model.pkl")):
        register(registry, {**iris_files(), "model.pkl": b"\x80\x04."})
    assert stored(registry) == set()
    assert counts(services) == (0, 0)
    assert tmp_entries(services) == []


def test_failed_copy_registration_leaves_the_source_and_a_clean_store(
    services: Services, tmp_path: Path
) -> None:
    source = write_tree(tmp_path / "outside", {**iris_files(), "model.pt": b"x"})
    with pytest.raises(UnsafeArtifact):
        services.registry.register(source, tenant=TENANT, name="iris", created_by="t")
    assert (source / "model.onnx").is_file()
    assert stored(services.registry) == set()
    assert tmp_entries(services) == []


def test_conflict_after_storing_does_not_orphan_the_artifact(services: Services) -> None:
    """The artifact is stored before the row; a refused row must take its artifact with it."""
    registry = services.registry
    first = register(registry, iris_files())
    files = dict(iris_files())
    files["aiaas.json"] = json.dumps({**json.loads(files["aiaas.json"]),
                                      "task": "tabular-regression", "labels": []}).encode()
    with pytest.raises(Conflict, match="serves task"):
        register(registry, files)
    assert stored(registry) == {first.sha256}
    assert counts(services) == (1, 1)
    assert tmp_entries(services) == []


def test_manifest_metrics_and_description_are_kept(services: Services) -> None:
    files = dict(iris_files())
    files["aiaas.json"] = json.dumps({**json.loads(files["aiaas.json"]),
                                      "description": "Iris", "metrics": {"acc": 0.97}}).encode()
    info = register(services.registry, files)
    assert info.metrics == {"acc": 0.97}
    assert services.registry.get_model(principal(), "iris").description == "Iris"


@pytest.mark.parametrize("kwargs", [{"description": "a\x00b"},
                                    {"metrics": {"acc": float("nan")}},
                                    {"metrics": {"acc": float("inf")}}])
def test_values_a_database_or_json_cannot_hold_are_refused(
    services: Services, kwargs: dict[str, object]
) -> None:
    source = write_tree(services.registry.store.staging_dir(), iris_files())
    with pytest.raises(Invalid):
        services.registry.register(source, tenant=TENANT, name="iris", created_by="t",
                                   move=True, **kwargs)  # type: ignore[arg-type]
    assert counts(services) == (0, 0)
    assert stored(services.registry) == set()


def test_collection_waits_for_a_registration_in_flight(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """beta deletes the last user of a digest while alpha's identical upload is stored but not
    yet recorded: the artifact must survive, or alpha's new version would point at nothing."""
    registry = services.registry
    register(registry, iris_files(), tenant="beta")
    stored_not_recorded, release = threading.Event(), threading.Event()
    record = registry._record

    def slow_record(*args: Any, **kwargs: Any) -> VersionInfo:
        stored_not_recorded.set()
        assert release.wait(10)
        return record(*args, **kwargs)

    monkeypatch.setattr(registry, "_record", slow_record)
    results: list[VersionInfo] = []
    upload = threading.Thread(target=lambda: results.append(register(registry, iris_files())))
    upload.start()
    assert stored_not_recorded.wait(10)
    delete = threading.Thread(target=registry.delete_model, args=(principal("beta"), "iris"))
    delete.start()
    delete.join(0.3)
    release.set()
    upload.join(10)
    delete.join(10)
    assert not upload.is_alive() and not delete.is_alive()
    assert registry.artifact_path(results[0]).is_dir()
    assert stored(registry) == {results[0].sha256}


def test_a_model_over_2_gib_can_be_recorded(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default upload limit is 2 GiB and an archive may expand to 4x that."""
    import aiaas.registry.service as service_module

    def big(root: Path) -> tuple[str, int]:
        digest, _ = directory_digest(root)
        return digest, 3 * 2**30

    monkeypatch.setattr(service_module, "directory_digest", big)
    info = register(services.registry, iris_files())
    assert services.registry.resolve(TENANT, "iris").size_bytes == info.size_bytes == 3 * 2**30


def test_resolved_versions_are_remembered_and_forgotten_on_change(services: Services) -> None:
    registry = Registry(services.db, services.registry.store, cache_s=60)
    register(registry, iris_variant(1))
    assert registry.cached(TENANT, "iris") is None
    first = registry.resolve(TENANT, "iris")
    assert registry.cached(TENANT, "iris") == first and registry.cached("other", "iris") is None
    second = register(registry, iris_variant(2))
    assert registry.cached(TENANT, "iris") is None, "a new version forgets every answer"
    registry.set_alias(principal(), "iris", "production", second.version)
    assert registry.resolve(TENANT, "iris").version == 2 == registry.cached(TENANT, "iris").version


def test_a_change_by_another_process_is_seen_within_the_cache_time(services: Services) -> None:
    registry = Registry(services.db, services.registry.store, cache_s=0.2)
    elsewhere = Registry(services.db, services.registry.store)
    register(registry, iris_variant(1))
    register(registry, iris_variant(2))
    assert registry.resolve(TENANT, "iris").version == 1
    elsewhere.set_alias(principal(), "iris", "production", 2)
    assert registry.cached(TENANT, "iris").version == 1
    time.sleep(0.25)
    assert registry.cached(TENANT, "iris") is None
    assert registry.resolve(TENANT, "iris").version == 2


def test_every_method_a_key_reaches_checks_its_scope(services: Services) -> None:
    """Authorisation lives in the registry, not in the route in front of it."""
    registry = services.registry
    register(registry, iris_variant(1))
    register(registry, iris_variant(2))
    writer = principal(TENANT, Scope.MODELS_WRITE)
    for read in (lambda: registry.list_models(writer), lambda: registry.get_model(writer, "iris"),
                 lambda: registry.get_version(writer, "iris", 1)):
        with pytest.raises(Forbidden, match="'models:read' scope"):
            read()
    reader = principal(TENANT, Scope.MODELS_READ, Scope.PREDICT)
    for change in (lambda: registry.set_alias(reader, "iris", "production", 2),
                   lambda: registry.set_preload(reader, "iris", 2, True),
                   lambda: registry.delete_version(reader, "iris", 2),
                   lambda: registry.delete_model(reader, "iris")):
        with pytest.raises(Forbidden, match="'models:write' scope"):
            change()
    model = registry.get_model(reader, "iris")
    assert (model.aliases, [v.version for v in model.versions]) == ({"production": 1}, [1, 2])
    assert not registry.get_version(reader, "iris", 2).preload


def test_a_missing_scope_is_refused_before_a_missing_model_is_found(services: Services) -> None:
    """A key without the scope learns nothing about which names exist."""
    reader = principal(TENANT, Scope.MODELS_READ)
    with pytest.raises(Forbidden):
        services.registry.delete_model(reader, "no-such-model")
    with pytest.raises(Forbidden):
        services.registry.get_model(principal(TENANT, Scope.PREDICT), "no-such-model")


def test_lookup_serves_keys_that_read_or_predict(services: Services) -> None:
    """V2 metadata: what a client reads before it calls the model."""
    registry = services.registry
    register(registry, iris_variant(1))
    for scopes in ((Scope.PREDICT,), (Scope.MODELS_READ,)):
        model, version = registry.lookup(principal(TENANT, *scopes), "iris", "production")
        assert (model.name, version.version) == ("iris", 1)
    with pytest.raises(Forbidden, match="'models:read' scope"):
        registry.lookup(principal(TENANT, Scope.MODELS_WRITE), "iris")


def test_deleting_a_model_answers_what_was_deleted(services: Services) -> None:
    registry = services.registry
    first = register(registry, iris_variant(1))
    second = register(registry, iris_variant(2))
    deleted = registry.delete_model(principal(), "iris")
    assert [v.key for v in deleted.versions] == [first.key, second.key]
    with pytest.raises(NotFound):
        registry.get_model(principal(), "iris")


def test_model_names_by_tenant_are_for_admins(services: Services) -> None:
    register(services.registry, iris_files(), name="iris")
    register(services.registry, iris_files(), name="other", tenant="beta")
    assert services.registry.model_names_by_tenant(Principal.system()) == {
        "alpha": ["iris"], "beta": ["other"]}
    assert services.registry.model_names_by_tenant(Principal.system(), "beta") == {
        "beta": ["other"]}
    with pytest.raises(Forbidden):
        services.registry.model_names_by_tenant(principal())
