"""transformers ``*ForSequenceClassification`` directories on torch (CPU, or a GPU when present).

Loaded the one way any size of model is: ``from_pretrained`` on the directory with
``local_files_only=True``, ``use_safetensors=True`` and no remote code. A batch is tokenized with
padding and truncation to the model's maximum length, in length-sorted chunks of ``CHUNK`` texts
so short texts are not padded to the longest one in a large batch. ``Prediction.tokens`` is each
text's token count after truncation (special tokens included).

Explanations (``Explainable``): Integrated Gradients on the input embeddings of the loaded model
(``aiaas.runtime.gradients``), queued on the model's worker like a batch.

``prepare_torch`` is shared with the other transformers backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.errors import BackendError
from aiaas.runtime import gradients, process
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.loaders import FALLBACK_MAX_LENGTH, max_length
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Explanation
from aiaas.tasks.text_classification import classification_output

CHUNK = 32


def prepare_torch(threads: int) -> str:
    """Offline mode, thread count, progress bars off; returns the device to load on."""
    process.use_torch_threads(threads)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return "cuda" if torch.cuda.is_available() else "cpu"


def release(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def check_label_count(model_or_config: Any, labels: list[str]) -> None:
    """A classifier whose head size differs from the registered labels cannot be served."""
    config = getattr(model_or_config, "config", model_or_config)
    outputs = int(config.num_labels)
    if outputs != len(labels):
        raise BackendError(f"the model has {outputs} outputs but {len(labels)} labels are "
                           "registered")


class HFSequenceBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.device = "cpu"
        self.model: Any = None
        self.tokenizer: Any = None
        self.max_length = FALLBACK_MAX_LENGTH

    def load(self) -> None:
        self.device = prepare_torch(self.threads)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False
        )
        model = AutoModelForSequenceClassification.from_pretrained(
            str(self.path), local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
        if self.tokenizer.pad_token is None and self.tokenizer.eos_token is not None:
            # Decoder-style classifiers (GPT-2, Llama) ship no pad token; they pool the last
            # non-pad token, so padding with EOS is what their authors do.
            self.tokenizer.pad_token = self.tokenizer.eos_token
            model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = model.to(self.device).eval()
        self.max_length = max_length(self.tokenizer, self.model.config)
        check_label_count(self.model, self.config["labels"])

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        import torch

        labels: list[str] = self.config["labels"]
        top_k = parameters.get("top_k")
        lengths = [len(text) for text in items]
        order = sorted(range(len(items)), key=lambda i: lengths[i])
        results: list[Prediction | None] = [None] * len(items)
        step = CHUNK if self.tokenizer.pad_token is not None else 1  # no pad token: one by one
        for start in range(0, len(order), step):
            chunk = order[start:start + step]
            encoded = self.tokenizer(
                [items[i] for i in chunk], padding=step > 1, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            ).to(self.device)
            try:
                with torch.inference_mode():
                    logits = self.model(**encoded).logits.float()
            except (RuntimeError, ValueError, IndexError) as exc:
                raise self.failure(exc, "the text classifier failed") from exc
            if self.config.get("multi_label"):
                scores = torch.sigmoid(logits)
            else:
                scores = torch.softmax(logits, dim=-1)
            counts = encoded["attention_mask"].sum(dim=1).tolist()
            for row, index, count in zip(scores.cpu().tolist(), chunk, counts, strict=True):
                results[index] = Prediction(classification_output(labels, row, top_k),
                                            tokens=int(count))
        return [result for result in results if result is not None]

    @property
    def explain_methods(self) -> tuple[str, ...]:
        return gradients.TEXT_METHODS if self.model is not None else ()

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        request = gradients.Request.of(parameters, len(items))
        try:
            return gradients.explain_texts(
                items, request, labels=self.config["labels"],
                multi_label=bool(self.config.get("multi_label")), tokenizer=self.tokenizer,
                max_length=self.max_length, embeddings=self.model.get_input_embeddings(),
                logits_of=lambda ids, mask: self.model(input_ids=ids,
                                                       attention_mask=mask).logits.float(),
                device=self.device)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise self.failure(exc, "explaining the text classifier failed") from exc

    def unload(self) -> None:
        self.model = None
        self.tokenizer = None
        release(self.device)
