"""Readable tables for model outputs, shared by ``predict``, ``embed`` and ``classify``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Column, Table

_SHOWN_CHARS = 48


def shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def classification_table(outputs: Sequence[Mapping[str, Any]],
                         inputs: Sequence[str] | None = None) -> Table:
    """One row per output: label, score and the best labels (``top_k`` when the model sent it,
    else the five most probable)."""
    table = Table("#", *(["input"] if inputs else []), Column("label", no_wrap=True), "score",
                  Column("best labels", ratio=1))
    for index, output in enumerate(outputs):
        ranked = [(str(entry["label"]), float(entry["score"])) for entry in output.get("top_k") or []]
        if not ranked:
            probabilities = output.get("probabilities") or {}
            ranked = sorted(((str(k), float(v)) for k, v in probabilities.items()), key=lambda kv: -kv[1])[:5]
        best = ", ".join(f"{escape(label)} {p:.3f}" for label, p in ranked)
        shown = [escape(inputs[index])] if inputs else []
        table.add_row(str(index), *shown, escape(str(output["label"])), f"{float(output['score']):.3f}", best)
    return table


def embedding_table(vectors: Sequence[Sequence[float]], texts: Sequence[str] | None = None) -> Table:
    """One row per vector: its size, its norm and its first values."""
    table = Table("#", *(["text"] if texts else []), "dims", "norm", "first values")
    for index, vector in enumerate(vectors):
        head = ", ".join(f"{x:+.4f}" for x in vector[:5])
        shown = [escape(shorten(texts[index]))] if texts else []
        table.add_row(str(index), *shown, str(len(vector)), f"{norm(vector):.4f}", f"[{head}, ...]")
    return table
