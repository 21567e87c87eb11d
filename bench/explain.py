"""Faithfulness and cost of explanations, in one run on a real server over HTTP.

    python bench/explain.py [--texts 208] [--seconds 10]

- **Tabular**: the built-in breast-cancer model (standardised logistic regression, ONNX) on its
  held-out test rows (the 20% its training never saw, seed 0). Its exact SHAP values in log-odds
  against the stored background are known in closed form, coefficient / scale x (x - mean of the
  background); the server's permutation SHAP (``output: log_odds``) is compared with them:
  Pearson correlation per row, averaged (target >= 0.99).
- **Text**: a sentiment classifier trained in the service (``builtin:sentiment``, embedding
  head, seed 7), explained on its own held-out test split (rows the job never trained on, drawn
  with the trainer's own split), once per method (``TEXT_METHODS``: partition SHAP, Integrated
  Gradients from the pad baseline). *Comprehensiveness*: the drop in the predicted label's
  probability after deleting the top 20% of words by attribution, against the drop after
  deleting as many random words (mean of 5 draws); target: ratio >= 2.
- **Images**: the digits CNN trained in the service (``builtin:digits``, seed 0), on its
  held-out test images (at most ``--images``), once per method (``IMAGE_METHODS``: partition
  SHAP, Integrated Gradients from the image's mean colour (the default) and from black,
  Grad-CAM).
  *Deletion curve*: pixels set to the image's mean in the order of their attribution (most
  positive first), 10% at a time; the area under the predicted label's probability curve,
  against the same for a random order (mean of 3 draws, the same for every method). Target:
  below the random curve.
- **Cost**: explain latency per item, p50 and p95, per method; predict p99 of the diagnosis model
  with 32 clients for ``--seconds``, alone and with 2 clients explaining at the same time.

``auto`` is whatever the service picks (``aiaas.explain.gradients.AUTO``); each method is asked
for by name here, and the result says which one ``auto`` runs for each model.

Prints JSON, also written to bench/results/explain.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
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
import numpy as np

RESULTS = Path(__file__).parent / "results" / "explain.json"
TEXT_METHODS: dict[str, dict[str, Any]] = {
    "partition": {"method": "partition"},
    "integrated_gradients": {"method": "integrated_gradients"},
}
IMAGE_METHODS: dict[str, dict[str, Any]] = {
    "partition": {"method": "partition"},
    "integrated_gradients": {"method": "integrated_gradients"},
    "integrated_gradients_black": {"method": "integrated_gradients", "baseline": "black"},
    "grad_cam": {"method": "grad_cam"},
}
DIAGNOSIS = "breast-cancer-diagnosis"
WORD = re.compile(r"\w+")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    from aiaas.auth.principal import Principal
    from aiaas.builtin import EMBEDDER, ensure_builtins
    from aiaas.config import Settings
    from aiaas.services import Services

    services = Services.build(Settings(data_dir=data_dir, builtin_models=False))
    ensure_builtins(services.registry, only={DIAGNOSIS, EMBEDDER})
    key = services.keys.create(Principal.system(), name="bench", tenant="default").secret
    services.db.dispose()
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_PRELOAD": DIAGNOSIS}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "aiaas.api.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server, url, key
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    sys.exit("the server did not become ready in 120 s")


def held_out_rows() -> tuple[list[str], np.ndarray[Any, Any]]:
    """The built-in diagnosis model's test rows, as ``builtin.train_breast_cancer`` split them."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    labels = np.asarray(data.target_names)[data.target]
    _x_train, x_test, _y_train, _y_test = train_test_split(
        data.data.astype(np.float32), labels, test_size=0.2, stratify=labels, random_state=0)
    return [str(name) for name in data.feature_names], x_test


def exact_log_odds(data_dir: Path, features: list[str], rows: np.ndarray[Any, Any]
                   ) -> np.ndarray[Any, Any]:
    """Closed-form SHAP of the diagnosis model in log-odds of 'malignant', read from its ONNX
    graph's scaler and coefficients, against its stored background."""
    import onnx

    from aiaas.auth.principal import BUILTIN_TENANT
    from aiaas.config import Settings
    from aiaas.training import wiring

    core = wiring.build(Settings(data_dir=data_dir, builtin_models=False))
    version = core.registry.resolve(BUILTIN_TENANT, DIAGNOSIS)
    directory = core.registry.artifact_path(version)
    graph = onnx.load(str(directory / "model.onnx")).graph
    attrs = {node.op_type: {a.name: a for a in node.attribute} for node in graph.node}
    scaler, linear = attrs["Scaler"], attrs["LinearClassifier"]
    scale = np.asarray(scaler["scale"].floats)
    coefficients = np.asarray(linear["coefficients"].floats).reshape(-1, len(features))
    classes = [c.decode() for c in linear["classlabels_strings"].strings]
    weight = coefficients[-1] if len(coefficients) == 1 else coefficients[classes.index("malignant")]
    if len(coefficients) == 1 and classes.index("malignant") == 0:
        weight = -weight
    background = np.asarray(json.loads((directory / "background.json").read_text()))
    core.db.dispose()
    return weight * scale * (rows - background.mean(axis=0))


def tabular(url: str, key: str, data_dir: Path) -> dict[str, Any]:
    features, rows = held_out_rows()
    exact = exact_log_odds(data_dir, features, rows.astype(np.float64))
    correlations, latencies = [], []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=120) as client:
        for row, truth in zip(rows, exact, strict=True):
            record = dict(zip(features, map(float, row), strict=True))
            started = time.perf_counter()
            answer = client.post(f"/api/v1/models/{DIAGNOSIS}/explain", json={
                "inputs": [record], "parameters": {"target": "malignant", "output": "log_odds"}})
            latencies.append(time.perf_counter() - started)
            answer.raise_for_status()
            found = {f["name"]: f["attribution"] for f in answer.json()["explanations"][0]["features"]}
            correlations.append(float(np.corrcoef([found[n] for n in features], truth)[0, 1]))
    return {"rows": len(rows), "pearson_mean": round(statistics.fmean(correlations), 5),
            "pearson_min": round(min(correlations), 5), "latency": quantiles(latencies)}


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)}


def train(client: httpx.Client, body: dict[str, Any]) -> None:
    job = client.post("/api/v1/jobs", json=body)
    job.raise_for_status()
    while True:
        shown = client.get(f"/api/v1/jobs/{job.json()['id']}").json()
        if shown["status"] not in ("queued", "running"):
            if shown["status"] != "succeeded":
                sys.exit(f"training failed: {shown}")
            return
        time.sleep(1)


def test_texts() -> list[str]:
    from aiaas.training.datasets import Catalog
    from aiaas.training.trainers.text import TextParams, split_texts

    dataset = Catalog().load("default", "builtin:sentiment", "text-classification")
    return split_texts(dataset, TextParams(seed=7)).test.texts


def without(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return re.sub(r"\s+", " ", text).strip()


def text(url: str, key: str, limit: int) -> dict[str, Any]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=300) as client:
        train(client, {"task": "text-classification", "dataset": "builtin:sentiment",
                       "name": "sentiment", "params": {"seed": 7}})
        texts = test_texts()[:limit]
        result: dict[str, Any] = {"texts": len(texts), "auto": auto_method(client, "sentiment",
                                                                           texts[0])}
        for name, parameters in TEXT_METHODS.items():
            result[name] = text_method(client, texts, parameters)
    return result


def auto_method(client: httpx.Client, model: str, item: str) -> str:
    answer = client.post(f"/api/v1/models/{model}/explain", json={"inputs": [item]})
    answer.raise_for_status()
    method: str = answer.json()["explanations"][0]["method"]
    return method


def text_method(client: httpx.Client, texts: list[str], parameters: dict[str, Any]
                ) -> dict[str, Any]:
    rng = random.Random(11)
    top_drops, random_drops, latencies, deltas = [], [], [], []
    for review in texts:
        started = time.perf_counter()
        answer = client.post("/api/v1/models/sentiment/explain",
                             json={"inputs": [review], "parameters": parameters})
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()
        explained = answer.json()["explanations"][0]
        if explained.get("delta") is not None:
            deltas.append(abs(explained["delta"]))
        words = [w for w in explained["words"] if WORD.fullmatch(w["word"])]
        k = max(1, round(0.2 * len(words)))
        top = sorted(words, key=lambda w: -w["attribution"])[:k]
        draws = [rng.sample(words, k) for _ in range(5)]
        variants = [without(review, [(w["start"], w["end"]) for w in top])] + [
            without(review, [(w["start"], w["end"]) for w in draw]) for draw in draws]
        scored = client.post("/api/v1/models/sentiment/predict",
                             json={"inputs": variants}).json()["outputs"]
        target = explained["target"]
        before = explained["prediction"]["probabilities"][target]
        top_drops.append(before - scored[0]["probabilities"][target])
        random_drops.append(statistics.fmean(before - s["probabilities"][target]
                                             for s in scored[1:]))
    top_mean, random_mean = statistics.fmean(top_drops), statistics.fmean(random_drops)
    measured: dict[str, Any] = {
        "comprehensiveness_top20": round(top_mean, 4), "random20": round(random_mean, 4),
        "ratio": round(top_mean / random_mean, 2) if random_mean > 0 else None,
        "latency": quantiles(latencies)}
    if deltas:
        measured["abs_delta_mean"] = round(statistics.fmean(deltas), 5)
    return measured


def png(image: Any) -> str:
    import base64
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def deletion_area(client: httpx.Client, image: Any, order: list[int], label: str) -> float:
    """Area under the label's probability as pixels go, in ``order``, 10% at a time."""
    from PIL import Image

    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    flat = pixels.reshape(-1, 3)
    mean = flat.mean(axis=0)
    steps = []
    for fraction in np.linspace(0, 1, 11):
        changed = flat.copy()
        changed[order[:round(fraction * len(order))]] = mean
        steps.append(png(Image.fromarray(changed.reshape(pixels.shape).astype(np.uint8))))
    outputs = client.post("/api/v1/models/digits/predict", json={"inputs": steps}).json()["outputs"]
    curve = [output["probabilities"][label] for output in outputs]
    return float(np.trapezoid(curve, dx=0.1))


def images(url: str, key: str, limit: int) -> dict[str, Any]:
    from aiaas.training.datasets import Catalog
    from aiaas.training.trainers.images import split_images

    rng = random.Random(5)
    by_chance: list[float] = []
    by_method: dict[str, list[float]] = {name: [] for name in IMAGE_METHODS}
    latencies: dict[str, list[float]] = {name: [] for name in IMAGE_METHODS}
    deltas: dict[str, list[float]] = {name: [] for name in IMAGE_METHODS}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=300) as client:
        train(client, {"task": "image-classification", "dataset": "builtin:digits",
                       "name": "digits", "params": {"seed": 0}})
        digits = Catalog().load("default", "builtin:digits", "image-classification")
        parts = split_images(digits.labels, seed=0, test_fraction=0.2, validation_fraction=0.1)
        tested = [digits.images[index] for index in parts.test[:limit]]
        auto = auto_method(client, "digits", png(tested[0]))
        for image in tested:
            label, pixels = "", 0
            for name, parameters in IMAGE_METHODS.items():
                started = time.perf_counter()
                answer = client.post("/api/v1/models/digits/explain",
                                     json={"inputs": [png(image)], "parameters": parameters})
                latencies[name].append(time.perf_counter() - started)
                answer.raise_for_status()
                explained = answer.json()["explanations"][0]
                if explained.get("delta") is not None:
                    deltas[name].append(abs(explained["delta"]))
                heat = np.asarray(explained["heatmap"]).ravel()
                label, pixels = explained["target"], len(heat)
                order = [int(i) for i in np.argsort(-heat, kind="stable")]
                by_method[name].append(deletion_area(client, image, order, label))
            by_chance.append(statistics.fmean(
                deletion_area(client, image, rng.sample(range(pixels), pixels), label)
                for _ in range(3)))
    result: dict[str, Any] = {"images": len(by_chance), "auto": auto,
                              "deletion_area_random": round(statistics.fmean(by_chance), 4)}
    for name in IMAGE_METHODS:
        result[name] = {"deletion_area": round(statistics.fmean(by_method[name]), 4),
                        "latency": quantiles(latencies[name])}
        if deltas[name]:
            result[name]["abs_delta_mean"] = round(statistics.fmean(deltas[name]), 5)
    return result


async def predict_p99(url: str, key: str, seconds: float, explainers: int) -> dict[str, Any]:
    features, rows = held_out_rows()
    record = dict(zip(features, map(float, rows[0]), strict=True))
    latencies: list[float] = []
    explained = 0
    stop = time.monotonic() + seconds

    async def predictor(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            answer = await http.post(f"/api/v1/models/{DIAGNOSIS}/predict",
                                     json={"inputs": [record]})
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - started)

    async def explainer(http: httpx.AsyncClient) -> None:
        nonlocal explained
        while time.monotonic() < stop:
            answer = await http.post(f"/api/v1/models/{DIAGNOSIS}/explain",
                                     json={"inputs": [record]})
            explained += answer.status_code == 200

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"},
                                 timeout=120, limits=limits) as http:
        await asyncio.gather(*(predictor(http) for _ in range(32)),
                             *(explainer(http) for _ in range(explainers)))
    ordered = sorted(latencies)
    return {"predictions": len(ordered), "explanations": explained,
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p99_ms": round(1000 * ordered[int(0.99 * len(ordered))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=208)
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="aiaas-bench-explain-")) / "data"
    server, url, key = start_server(data_dir)
    try:
        result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(),
                                              "platform": platform.platform()}}
        result["tabular"] = tabular(url, key, data_dir)
        result["text"] = text(url, key, args.texts)
        result["images"] = images(url, key, args.images)
        alone = asyncio.run(predict_p99(url, key, args.seconds, 0))
        loaded = asyncio.run(predict_p99(url, key, args.seconds, 2))
        result["predict_under_explain_load"] = {"alone": alone, "with_2_explaining": loaded}
    finally:
        server.terminate()
        server.wait(timeout=60)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
