"""Placement: replicas started on first use, the memory budget, idle unloading, preload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from aiaas.auth.principal import Principal
from aiaas.builtin import train_breast_cancer
from aiaas.calls import CallResult, ModelCall
from aiaas.config import Settings
from aiaas.errors import Unavailable
from aiaas.services import Services

ROW = [float(v) for v in load_breast_cancer().data[0]]
CALLER = Principal(tenant="clinic", key_id="k1", scopes=frozenset({"predict"}))


def register_two(services: Services, tmp_path: Path) -> int:
    sizes = []
    for name in ("first", "second"):
        train_breast_cancer(tmp_path / name)
        info = services.registry.register(tmp_path / name, tenant="clinic", name=name,
                                          created_by="test")
        sizes.append(info.size_bytes)
    return max(sizes)


def build(settings: Settings, **overrides: Any) -> Services:
    return Services.build(settings.model_copy(update=overrides))


async def predict(services: Services, caller: Principal, name: str, inputs: list[Any],
                  **call: Any) -> CallResult:
    return await services.calls.predict(ModelCall(caller, name, inputs=inputs, **call))


def loaded(services: Services) -> list[Any]:
    return services.placement.replicas()


async def test_budget_evicts_the_least_recently_used_model(settings: Settings,
                                                           tmp_path: Path) -> None:
    probe = build(settings)
    size = register_two(probe, tmp_path)
    probe.db.dispose()
    services = build(settings, memory_budget_mb=size * 1.5 / 2**20)
    await services.start()
    try:
        await predict(services, CALLER, "first", [ROW])
        await predict(services, CALLER, "second", [ROW])
        assert [m.version.model for m in loaded(services)] == ["second"]
        await predict(services, CALLER, "first", [ROW])
        assert [m.version.model for m in loaded(services)] == ["first"]
    finally:
        await services.stop()


async def test_a_model_larger_than_the_budget_is_refused_with_503(settings: Settings,
                                                                  tmp_path: Path) -> None:
    services = build(settings, memory_budget_mb=1e-6)
    register_two(services, tmp_path)
    await services.start()
    try:
        with pytest.raises(Unavailable, match="memory budget"):
            await predict(services, CALLER, "first", [ROW])
    finally:
        await services.stop()


async def test_idle_models_are_unloaded(settings: Settings, tmp_path: Path) -> None:
    services = build(settings, idle_unload_s=0.2)
    register_two(services, tmp_path)
    await services.start()
    try:
        await predict(services, CALLER, "first", [ROW])
        assert len(loaded(services)) == 1
        for _ in range(50):
            await asyncio.sleep(0.05)
            if not loaded(services):
                break
        assert loaded(services) == []
        result = await predict(services, CALLER, "first", [ROW])
        assert result.outputs[0].label == "malignant"
    finally:
        await services.stop()


async def test_preload_loads_at_start(settings: Settings, tmp_path: Path) -> None:
    services = build(settings, builtin_models=True, preload=["breast-cancer-diagnosis"])
    await services.start()
    try:
        assert [m.version.model for m in loaded(services)] == ["breast-cancer-diagnosis"]
    finally:
        await services.stop()


async def test_versions_marked_preload_load_at_start(settings: Settings, tmp_path: Path) -> None:
    services = build(settings)
    register_two(services, tmp_path)
    services.registry.set_preload(Principal.system("clinic"), "second", 1, True)
    assert [v.model for v in services.registry.preloaded()] == ["second"]
    await services.start()
    try:
        assert [m.version.model for m in loaded(services)] == ["second"]
    finally:
        await services.stop()


async def test_integer_class_labels_come_from_the_onnx_graph(settings: Settings,
                                                            tmp_path: Path) -> None:
    """A scikit-learn classifier fitted on integer targets (LinearClassifier's classlabels_ints,
    a tree ensemble's classlabels_int64s) needs no aiaas.json to name its classes."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    services = build(settings)
    for name, model in (("linear", LogisticRegression(max_iter=500)),
                        ("forest", RandomForestClassifier(n_estimators=5, random_state=0))):
        fitted = model.fit(x.astype(np.float32), y)
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.onnx").write_bytes(to_onnx(
            fitted, x[:1].astype(np.float32), options={"zipmap": False}).SerializeToString())
        info = services.registry.register(tmp_path / name, tenant="clinic", name=name,
                                          created_by="test", task="tabular-classification")
        assert info.config["labels"] == ["0", "1", "2"]
    await services.start()
    try:
        for name in ("linear", "forest"):
            result = await predict(services, CALLER, name, [[6.7, 3.0, 5.2, 2.3]])
            assert result.outputs[0].label == "2"
            assert set(result.outputs[0].probabilities) == {"0", "1", "2"}
    finally:
        await services.stop()
