"""Text classification by a linear head on a frozen sentence encoder (format ``embedding-head``).

The directory is a sentence-transformers model, checked as any other (``modules.json`` may name
only sentence-transformers' own modules), plus ``classifier_head.safetensors`` with two float32
tensors: ``weight`` [labels, features] and ``bias`` [labels]. The features of a text are the
attention-masked mean of the token states of every transformer layer of the encoder,
concatenated (layers x hidden size; the last block is the sentence embedding before its
normalisation): the lower layers keep more of the wording (negations, intensifiers) that the
final sentence embedding averages away, which is what sentiment-like labels depend on. The
probabilities are the softmax of ``weight @ features + bias``; the labels, in row order, come
from ``aiaas.json``. Nothing here runs code from the directory: the encoder loads through
transformers' built-in classes, the head is two tensors read with safetensors.

The directory is recognised by ``aiaas.formats.sentence.detect_embedding_head``; ``write_head``
is what the trainer uses to save a head, so the file a job writes is the file detection checks
and this backend reads.

Explanations (``Explainable``): Integrated Gradients on the encoder's input embeddings through
the same pooling and head (``aiaas.runtime.gradients``), queued on the model's worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiaas.errors import BackendError
from aiaas.formats import read_json
from aiaas.formats.sentence import HEAD_FILE, HEAD_FORMAT, encoder_folder
from aiaas.runtime import gradients
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.backends.hf_sequence import prepare_torch, release
from aiaas.runtime.loaders import max_length
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Explanation
from aiaas.tasks.text_classification import classification_output

CHUNK = 32
_ST_CONFIG = "sentence_bert_config.json"


def write_head(target: Path, weight: np.ndarray[Any, Any], bias: np.ndarray[Any, Any]) -> None:
    """Save a head as detection and this backend expect it."""
    from safetensors.numpy import save_file

    save_file({"weight": np.ascontiguousarray(weight, dtype=np.float32),
               "bias": np.ascontiguousarray(bias, dtype=np.float32)},
              str(target / HEAD_FILE), metadata={"format": HEAD_FORMAT})


def softmax(logits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray[Any, Any] = exp / exp.sum(axis=1, keepdims=True)
    return result


class EmbeddingHeadBackend(Backend):
    """``load_encoder`` and ``features`` let a trainer encode with this exact code before the
    head exists; ``load_head`` then adds the head it saved."""

    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.device = "cpu"
        self.model: Any = None
        self.tokenizer: Any = None
        self.max_length = 0
        self.lowercase = False
        self.weight: np.ndarray[Any, Any] | None = None
        self.bias: np.ndarray[Any, Any] | None = None

    @property
    def width(self) -> int:
        """Features per text: layers x hidden size."""
        return int(self.model.config.num_hidden_layers * self.model.config.hidden_size)

    def load_encoder(self) -> None:
        self.device = prepare_torch(self.threads)
        from transformers import AutoModel, AutoTokenizer

        folder = encoder_folder(self.path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                                       trust_remote_code=False)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True,
                                               trust_remote_code=False,
                                               use_safetensors=True).to(self.device).eval()
        self.max_length = max_length(self.tokenizer, self.model.config)
        settings = folder / _ST_CONFIG
        if settings.is_file():
            values = read_json(settings, _ST_CONFIG)
            limit = values.get("max_seq_length") if isinstance(values, dict) else None
            if isinstance(limit, int) and 0 < limit < self.max_length:
                self.max_length = limit
            self.lowercase = isinstance(values, dict) and values.get("do_lower_case") is True

    def load_head(self) -> None:
        from safetensors.numpy import load_file

        tensors = load_file(str(self.path / HEAD_FILE))
        weight, bias = tensors["weight"].astype(np.float32), tensors["bias"].astype(np.float32)
        labels: list[str] = self.config["labels"]
        if weight.shape != (len(labels), self.width):
            raise BackendError(f"the classifier head is {weight.shape[0]}x{weight.shape[1]}; the "
                               f"encoder gives {self.width} features for {len(labels)} labels")
        self.weight, self.bias = weight, bias

    def load(self) -> None:
        self.load_encoder()
        self.load_head()

    def features(self, items: list[str]) -> tuple[np.ndarray[Any, Any], list[int]]:
        """One feature row per text (in order), and each text's token count; texts run in
        length-sorted chunks of ``CHUNK`` so short ones are not padded to the longest."""
        import torch

        texts = [text.lower() for text in items] if self.lowercase else list(items)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = np.zeros((len(texts), self.width), dtype=np.float32)
        tokens = [0] * len(texts)
        for start in range(0, len(order), CHUNK):
            chunk = order[start:start + CHUNK]
            encoded = self.tokenizer([texts[i] for i in chunk], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
            try:
                with torch.inference_mode():
                    states = self.model(**encoded, output_hidden_states=True).hidden_states[1:]
            except (RuntimeError, ValueError, IndexError) as exc:
                raise self.failure(exc, "the sentence encoder failed") from exc
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            counts = mask.sum(dim=1)
            pooled = torch.cat([(state.float() * mask).sum(dim=1) / counts for state in states], dim=1)
            rows[chunk] = pooled.cpu().numpy()
            for index, count in zip(chunk, counts[:, 0].tolist(), strict=True):
                tokens[index] = int(count)
        return rows, tokens

    def probabilities(self, features: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if self.weight is None or self.bias is None:
            raise BackendError("the classifier head is not loaded")
        return softmax(features.astype(np.float64) @ self.weight.T.astype(np.float64)
                       + self.bias.astype(np.float64))

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        labels: list[str] = self.config["labels"]
        features, tokens = self.features(items)
        scores = self.probabilities(features)
        return [Prediction(classification_output(labels, row.tolist(), parameters.get("top_k")),
                           tokens=count)
                for row, count in zip(scores, tokens, strict=True)]

    @property
    def explain_methods(self) -> tuple[str, ...]:
        return gradients.TEXT_METHODS if self.weight is not None else ()

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        request = gradients.Request.of(parameters, len(items))
        try:
            return gradients.explain_texts(
                items, request, labels=self.config["labels"], multi_label=False,
                tokenizer=self.tokenizer, max_length=self.max_length,
                embeddings=self.model.get_input_embeddings(), logits_of=self._logits,
                device=self.device, lowercase=self.lowercase)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise self.failure(exc, "explaining the text classifier failed") from exc

    def _logits(self, ids: Any, mask: Any) -> Any:
        """``features`` then the head, in torch so gradients flow (the head in float64, as
        ``probabilities`` computes it)."""
        import torch

        if self.weight is None or self.bias is None:
            raise BackendError("the classifier head is not loaded")
        states = self.model(input_ids=ids, attention_mask=mask,
                            output_hidden_states=True).hidden_states[1:]
        weights = mask.unsqueeze(-1).float()
        counts = weights.sum(dim=1)
        pooled = torch.cat([(state.float() * weights).sum(dim=1) / counts for state in states],
                           dim=1)
        head = torch.from_numpy(self.weight).to(self.device, torch.float64)
        bias = torch.from_numpy(self.bias).to(self.device, torch.float64)
        return pooled.double() @ head.T + bias

    def unload(self) -> None:
        self.model = self.tokenizer = None
        self.weight = self.bias = None
        release(self.device)
