"""Choosing the next token: greedy at temperature 0, else seeded temperature + nucleus sampling
(drawn among the nucleus's tokens only: the same distribution as a draw over the whole
vocabulary with the rest zeroed, at a fraction of the cost per token).

Each sequence owns its ``Sampler`` (and its own ``torch.Generator``), so a seeded request draws
the same tokens whatever else shares its batch.
"""

from __future__ import annotations

import secrets

import torch

from aiaas.tasks.generation_params import GenerationParams

NUCLEUS_FIRST = 256
"""The nucleus is looked for among the ``NUCLEUS_FIRST`` likeliest tokens first (a partial sort);
only when they hold less than ``top_p`` of the mass is the whole vocabulary sorted."""


class Sampler:
    def __init__(self, params: GenerationParams, device: torch.device) -> None:
        self.temperature = params.temperature
        self.top_p = params.top_p
        self.greedy = params.temperature == 0
        self.generator: torch.Generator | None = None
        if not self.greedy:
            seed = params.seed if params.seed is not None else secrets.randbits(63)
            self.generator = torch.Generator(device=device)
            self.generator.manual_seed(seed)

    def choose(self, logits: torch.Tensor, greedy_choice: int | None = None) -> int:
        """Pick from one row of logits (``[vocab]``); ``greedy_choice`` is the row's argmax when
        the caller computed it for the whole batch."""
        if self.greedy:
            return greedy_choice if greedy_choice is not None else int(torch.argmax(logits))
        scaled = logits.float() / self.temperature
        if self.top_p >= 1.0:
            return int(torch.multinomial(torch.softmax(scaled, dim=-1), 1,
                                         generator=self.generator))
        top = min(NUCLEUS_FIRST, scaled.numel())
        values, order = torch.topk(scaled, top)  # descending
        sorted_probs = torch.exp(values - torch.logsumexp(scaled, dim=-1))
        if float(sorted_probs.sum()) < self.top_p:  # a flat distribution: sort it all
            sorted_probs, order = torch.sort(torch.softmax(scaled, dim=-1), descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        keep = (cumulative - sorted_probs) < self.top_p
        keep[0] = True
        drawn = torch.multinomial(sorted_probs[keep], 1, generator=self.generator)
        return int(order[keep][drawn])


def choose_tokens(logits: torch.Tensor, samplers: list[Sampler]) -> list[int]:
    """One token per row of ``logits`` (``[batch, vocab]``), each by its own sampler."""
    greedy = torch.argmax(logits, dim=-1).tolist() if any(s.greedy for s in samplers) else None
    return [
        sampler.choose(logits[row], greedy[row] if greedy is not None else None)
        for row, sampler in enumerate(samplers)
    ]
