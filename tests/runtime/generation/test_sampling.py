"""The sampler: greedy, top-p and seeded draws."""

from __future__ import annotations

import torch

from aiaas.runtime.generation.sampling import Sampler
from aiaas.tasks.generation_params import GenerationParams


def test_sampler_greedy_top_p_and_seed() -> None:
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    greedy = Sampler(GenerationParams(temperature=0))
    assert greedy.choose(logits) == 1
    narrow = Sampler(GenerationParams(temperature=1.0, top_p=0.01, seed=5))
    assert {narrow.choose(logits) for _ in range(20)} == {1}

    def draws(seed: int) -> list[int]:
        sampler = Sampler(GenerationParams(temperature=2.0, seed=seed))
        return [sampler.choose(logits) for _ in range(30)]

    assert draws(7) == draws(7)
    assert len(set(draws(7))) > 1


def test_a_flat_nucleus_reaches_past_the_first_partial_sort_and_far_tokens_are_left_out() -> None:
    flat = torch.zeros(10_000)  # top_p 0.5 of a flat distribution: 5,000 tokens
    sampler = Sampler(GenerationParams(temperature=1.0, top_p=0.5, seed=3))
    drawn = {sampler.choose(flat) for _ in range(2_000)}
    assert len(drawn) > 1_000 and max(drawn) < 10_000
    peaked = torch.zeros(1_000)
    peaked[7] = 40.0  # every other token is 40 nats below it: not a candidate
    assert {Sampler(GenerationParams(temperature=1.0, seed=s)).choose(peaked)
            for s in range(20)} == {7}
