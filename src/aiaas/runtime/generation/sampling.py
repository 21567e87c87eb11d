"""Choosing the next token: greedy at temperature 0, else seeded temperature + nucleus sampling.

Each sequence owns its ``Sampler`` (and its own ``torch.Generator``), so a seeded request draws
the same tokens whatever else shares its batch.
"""

from __future__ import annotations

import secrets

import torch

from aiaas.tasks.generation_params import GenerationParams


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
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            cumulative = torch.cumsum(sorted_probs, dim=-1)
            keep = (cumulative - sorted_probs) < self.top_p
            keep[0] = True
            probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=self.generator))


def choose_tokens(logits: torch.Tensor, samplers: list[Sampler]) -> list[int]:
    """One token per row of ``logits`` (``[batch, vocab]``), each by its own sampler."""
    greedy = torch.argmax(logits, dim=-1).tolist() if any(s.greedy for s in samplers) else None
    return [
        sampler.choose(logits[row], greedy[row] if greedy is not None else None)
        for row, sampler in enumerate(samplers)
    ]
