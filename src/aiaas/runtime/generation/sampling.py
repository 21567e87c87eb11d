"""Choosing the next token: greedy at temperature 0, else seeded temperature + nucleus sampling
(drawn among the nucleus's tokens only: the same distribution as a draw over the whole
vocabulary with the rest zeroed, at a fraction of the cost per token).

The whole vocabulary is passed over once, in NumPy on one thread, to find the candidates
(``NEGLIGIBLE_NATS``); the rest works on those. torch's ops over the vocabulary took ~3 ms a
token while llama.cpp's threads held both cores (py-spy on a served stream); this takes about
0.2 ms for a peaked one. The draw is inverse-CDF on a uniform from the sequence's own ``torch.Generator`` (on
the CPU), so a seeded request draws the same tokens whatever else shares its batch.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

from aiaas.tasks.generation_params import GenerationParams

NUCLEUS_STEPS = (256, 4096)
"""The nucleus is looked for among the 256 likeliest candidates first (a partial sort), then
among 4,096; only when they hold less than ``top_p`` of the mass are all of them sorted."""
NEGLIGIBLE_NATS = 30.0
"""Tokens this far (after temperature) below the likeliest are left out before anything else:
each weighs under 1e-13 of it, so even a 250k vocabulary of them moves no probability by more
than 3e-8."""


class Sampler:
    def __init__(self, params: GenerationParams) -> None:
        """Logits may live on any device; drawing always happens on the CPU."""
        self.temperature = params.temperature
        self.top_p = params.top_p
        self.greedy = params.temperature == 0
        self.generator: torch.Generator | None = None
        if not self.greedy:
            seed = params.seed if params.seed is not None else secrets.randbits(63)
            self.generator = torch.Generator()
            self.generator.manual_seed(seed)

    def choose(self, logits: torch.Tensor, greedy_choice: int | None = None) -> int:
        """Pick from one row of logits (``[vocab]``); ``greedy_choice`` is the row's argmax when
        the caller computed it for the whole batch."""
        if self.greedy:
            return greedy_choice if greedy_choice is not None else int(torch.argmax(logits))
        raw = logits.detach().to("cpu", torch.float32).numpy()
        peak = raw.max()
        tokens = np.flatnonzero(raw > peak - NEGLIGIBLE_NATS * self.temperature)
        scaled = (raw[tokens] - peak) / np.float32(self.temperature)
        weights = np.exp(scaled)
        total = weights.sum(dtype=np.float64)
        if self.top_p < 1.0:
            order = self._likeliest(scaled, weights, total)
            tokens, weights = tokens[order], weights[order]
            before = np.cumsum(weights, dtype=np.float64) - weights
            kept = max(1, int(np.count_nonzero(before < self.top_p * total)))
            tokens, weights = tokens[:kept], weights[:kept]
        cumulative = np.cumsum(weights, dtype=np.float64)
        point = float(torch.rand((), generator=self.generator, dtype=torch.float64))
        index = int(np.searchsorted(cumulative, point * cumulative[-1], side="right"))
        return int(tokens[min(index, tokens.size - 1)])


    def _likeliest(self, scaled: np.ndarray, weights: np.ndarray, total: float) -> np.ndarray:
        """Indices of the likeliest candidates, most likely first, enough to hold ``top_p`` of
        the mass: partial sorts of growing size (a flat distribution needs more)."""
        for size in NUCLEUS_STEPS:
            if size >= scaled.size:
                break
            first = np.argpartition(scaled, scaled.size - size)[-size:]
            if weights[first].sum(dtype=np.float64) >= self.top_p * total:
                return first[np.argsort(-scaled[first], kind="stable")]
        return np.argsort(-scaled, kind="stable")


def choose_tokens(logits: torch.Tensor, samplers: list[Sampler]) -> list[int]:
    """One token per row of ``logits`` (``[batch, vocab]``), each by its own sampler."""
    greedy = torch.argmax(logits, dim=-1).tolist() if any(s.greedy for s in samplers) else None
    return [
        sampler.choose(logits[row], greedy[row] if greedy is not None else None)
        for row, sampler in enumerate(samplers)
    ]
