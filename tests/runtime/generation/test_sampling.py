"""The sampler: greedy, top-p and seeded draws."""

from __future__ import annotations

import torch

from aiaas.runtime.generation.sampling import Sampler
from aiaas.tasks.generation_params import GenerationParams


def test_sampler_greedy_top_p_and_seed() -> None:
    logits = torch.tensor([0.0, 3.0, 2.9, -1.0])
    greedy = Sampler(GenerationParams(temperature=0), torch.device("cpu"))
    assert greedy.choose(logits) == 1
    narrow = Sampler(GenerationParams(temperature=1.0, top_p=0.01, seed=5), torch.device("cpu"))
    assert {narrow.choose(logits) for _ in range(20)} == {1}

    def draws(seed: int) -> list[int]:
        sampler = Sampler(GenerationParams(temperature=2.0, seed=seed), torch.device("cpu"))
        return [sampler.choose(logits) for _ in range(30)]

    assert draws(7) == draws(7)
    assert len(set(draws(7))) > 1
