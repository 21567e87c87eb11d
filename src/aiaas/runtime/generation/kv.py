"""The KV cache of a group of sequences decoded together, stacked on the batch dimension.

Rows are left-padded to a common length; the attention mask hides the padding and each row
keeps its own position, so a row computes exactly what it would alone. The stacked cache is
rebuilt only when a sequence joins (one copy, padded to the longer side) or leaves (rows
selected, all-padding columns on the left trimmed); a decode step only appends one column.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

T = TypeVar("T")


def stackable(config: Any) -> bool:
    """True when every layer of the model's cache is a plain full-attention ``DynamicLayer``
    (sliding-window and recurrent layers cannot be left-padded and stacked)."""
    cache = DynamicCache(config=config)
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


def _tensors(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    layers: list[Any] = list(cache.layers)
    return [(layer.keys, layer.values) for layer in layers]


def _pad_left(tensor: torch.Tensor, columns: int) -> torch.Tensor:
    if columns == 0:
        return tensor
    return torch.nn.functional.pad(tensor, (0, 0, columns, 0))


class KVGroup(Generic[T]):
    """Sequences (``members``) sharing one stacked cache; ``lengths[i]`` real tokens in row i."""

    def __init__(self, config: Any, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=device)
        self.members: list[T] = []
        self.lengths: list[int] = []

    def __len__(self) -> int:
        return len(self.members)

    @property
    def width(self) -> int:
        """Columns in the stacked cache (the longest row plus its left padding)."""
        return int(self.mask.shape[1])

    def add(self, member: T, cache: DynamicCache, length: int) -> None:
        """Join a sequence whose own batch-of-one cache holds ``length`` tokens."""
        if self.cache is None or not self.members:
            self.cache, self.members, self.lengths = cache, [member], [length]
            self.mask = torch.ones((1, length), dtype=torch.long, device=self.device)
            return
        width = max(self.width, length)
        grow, pad = width - self.width, width - length
        layers = [
            (torch.cat([_pad_left(keys, grow), _pad_left(new_keys, pad)]),
             torch.cat([_pad_left(values, grow), _pad_left(new_values, pad)]))
            for (keys, values), (new_keys, new_values) in zip(_tensors(self.cache), _tensors(cache),
                                                              strict=True)
        ]
        self.cache = DynamicCache(ddp_cache_data=layers, config=self.config)
        row = torch.zeros((1, width), dtype=torch.long, device=self.device)
        row[0, pad:] = 1
        self.mask = torch.cat([torch.nn.functional.pad(self.mask, (grow, 0)), row])
        self.members.append(member)
        self.lengths.append(length)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in order); drop columns that are padding in every kept row."""
        if len(rows) == len(self.members):
            return
        if not rows:
            self.cache, self.members, self.lengths = None, [], []
            self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)
            return
        assert self.cache is not None
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        trim = self.width - max(self.lengths[row] for row in rows)
        self.cache = DynamicCache(
            ddp_cache_data=[(keys[index, :, trim:], values[index, :, trim:])
                            for keys, values in _tensors(self.cache)],
            config=self.config,
        )
        self.mask = self.mask[index, trim:]
        self.members = [self.members[row] for row in rows]
        self.lengths = [self.lengths[row] for row in rows]

    def step_inputs(self, tokens: list[int]) -> dict[str, Any]:
        """Model inputs that feed ``tokens[i]`` to row i at its own next position."""
        ones = torch.ones((len(self.members), 1), dtype=torch.long, device=self.device)
        return {
            "input_ids": torch.tensor(tokens, dtype=torch.long, device=self.device).unsqueeze(1),
            "attention_mask": torch.cat([self.mask, ones], dim=1),
            "position_ids": torch.tensor(self.lengths, dtype=torch.long, device=self.device).unsqueeze(1),
        }

    def advance(self, attention_mask: torch.Tensor) -> None:
        """After a step: the mask used for it is the new mask, every row is one token longer."""
        self.mask = attention_mask
        self.lengths = [length + 1 for length in self.lengths]

    def tokens(self) -> int:
        """KV slots held, padding included."""
        return len(self.members) * self.width
