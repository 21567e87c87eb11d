"""Text classification by a linear head on frozen sentence embeddings (format ``embedding-head``).

The directory is a sentence-transformers model, checked as any other (``modules.json`` may name
only sentence-transformers' own modules), plus ``classifier_head.safetensors`` with two float32
tensors: ``weight`` [labels, dimensions] and ``bias`` [labels]. A text is encoded exactly as the
embedding task serves it (normalised), the head gives one logit per label, and the probabilities
are their softmax. The labels, in row order, come from ``aiaas.json``. Nothing here runs code from
the directory: the head is two tensors read with safetensors.

``detect_head`` is called from ``registry.formats.detect``; ``write_head`` is what the trainer
uses to save one, so the file a job writes is the file this backend reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiaas.errors import BackendError, Invalid
from aiaas.runtime.backends.sentence_transformers import SentenceTransformersBackend
from aiaas.runtime.tasks.base import Prediction
from aiaas.runtime.tasks.text_classification import classification_output

if TYPE_CHECKING:
    from aiaas.registry.formats import Detected, Manifest

FORMAT = "embedding-head"
HEAD_FILE = "classifier_head.safetensors"
_TENSORS = {"weight": 2, "bias": 1}


def _head_shapes(path: Path) -> dict[str, list[int]]:
    """The shapes of ``weight`` and ``bias`` from the safetensors header (no data read)."""
    from aiaas.registry.hf_detect import check_safetensors

    check_safetensors(path, HEAD_FILE)
    with path.open("rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(length))
    shapes: dict[str, list[int]] = {}
    for name, rank in _TENSORS.items():
        entry = header.get(name)
        if not isinstance(entry, dict) or entry.get("dtype") != "F32":
            raise Invalid(f"{HEAD_FILE} needs a float32 tensor {name!r}")
        shape = entry.get("shape")
        if (not isinstance(shape, list) or len(shape) != rank
                or not all(isinstance(n, int) and n > 0 for n in shape)):
            raise Invalid(f"{HEAD_FILE}: tensor {name!r} must have {rank} positive dimensions")
        shapes[name] = shape
    extra = set(header) - set(_TENSORS) - {"__metadata__"}
    if extra:
        raise Invalid(f"{HEAD_FILE} holds unexpected tensors: {', '.join(sorted(extra)[:4])}")
    if shapes["bias"][0] != shapes["weight"][0]:
        raise Invalid(f"{HEAD_FILE}: weight has {shapes['weight'][0]} rows but bias "
                      f"{shapes['bias'][0]} entries")
    return shapes


def detect_head(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    """``Detected`` for a sentence-transformers directory that carries a classifier head, else
    ``None``; ``Invalid`` when the head or its labels do not fit."""
    if HEAD_FILE not in names:
        return None
    from aiaas.registry.formats import Detected

    rows, dimensions = _head_shapes(root / HEAD_FILE)["weight"]
    labels = [str(label) for label in manifest.labels]
    if len(labels) != rows:
        raise Invalid(f"{HEAD_FILE} has {rows} outputs; aiaas.json must list as many labels "
                      f"(it lists {len(labels)})")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise Invalid("a classifier head needs at least two distinct labels")
    config = {"labels": labels, "multi_label": False, "dimensions": dimensions}
    return Detected(FORMAT, "sentence-transformers", ("text-classification",), manifest, config)


def write_head(target: Path, weight: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> None:
    """Save a head as ``detect_head`` and the backend expect it."""
    from safetensors.numpy import save_file

    save_file({"weight": np.ascontiguousarray(weight, dtype=np.float32),
               "bias": np.ascontiguousarray(bias, dtype=np.float32)},
              str(target / HEAD_FILE), metadata={"format": FORMAT})


def softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray[Any, Any] = exp / exp.sum(axis=1, keepdims=True)
    return result


class EmbeddingHeadBackend(SentenceTransformersBackend):
    """The sentence-transformers backend (so encoding is the embedding task's), then the head.

    ``load_encoder``/``embed`` let a trainer encode with the same code before the head exists,
    and ``load_head`` then adds the head it saved."""

    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config, threads=threads)
        self.weight: np.ndarray[Any, Any] | None = None
        self.bias: np.ndarray[Any, Any] | None = None

    def load_encoder(self) -> None:
        super().load()

    def load(self) -> None:
        self.load_encoder()
        self.load_head()

    def load_head(self) -> None:
        from safetensors.numpy import load_file

        tensors = load_file(str(self.path / HEAD_FILE))
        weight, bias = tensors["weight"].astype(np.float32), tensors["bias"].astype(np.float32)
        labels: list[str] = self.config["labels"]
        dimensions = int(self.model.get_sentence_embedding_dimension() or 0)
        if weight.shape != (len(labels), dimensions):
            raise BackendError(f"the classifier head is {weight.shape[0]}x{weight.shape[1]}; the "
                               f"encoder gives {dimensions} dimensions for {len(labels)} labels")
        self.weight, self.bias = weight, bias

    def embed(self, items: list[str]) -> tuple[np.ndarray[Any, Any], list[int]]:
        """Normalised embeddings (one row per text) and each text's token count."""
        predictions = super().predict_batch(items, {"normalize": True})
        vectors = np.asarray([p.output["embedding"] for p in predictions], dtype=np.float32)
        return vectors, [p.tokens for p in predictions]

    def probabilities(self, vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.weight is None or self.bias is None:
            raise BackendError("the classifier head is not loaded")
        return softmax(vectors.astype(np.float64) @ self.weight.T.astype(np.float64)
                       + self.bias.astype(np.float64))

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        labels: list[str] = self.config["labels"]
        vectors, tokens = self.embed(items)
        scores = self.probabilities(vectors)
        return [Prediction(classification_output(labels, row.tolist(), parameters.get("top_k")),
                           tokens=count)
                for row, count in zip(scores, tokens, strict=True)]

    def unload(self) -> None:
        super().unload()
        self.weight = self.bias = None
