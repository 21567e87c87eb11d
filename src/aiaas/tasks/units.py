"""What a model call consumed, in the units usage rows, limits and prices count.

One record for every place that counts: backends fill it per prediction (through
``Prediction``), the front door's meter sums it into the usage row, and a future limit or price
reads the same fields. Adding a unit means adding a field here and a column in ``usage_records``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Units:
    items: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    audio_seconds: float = 0.0

    def __add__(self, other: Units) -> Units:
        return Units(self.items + other.items, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens,
                     self.audio_seconds + other.audio_seconds)

    @classmethod
    def total(cls, parts: Iterable[Units]) -> Units:
        result = cls()
        for part in parts:
            result = result + part
        return result

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)

    def summary(self) -> dict[str, int | float]:
        """The ``usage`` object of a native predict answer: items and prompt tokens always, the
        other units only when the call used them."""
        summary: dict[str, int | float] = {"items": self.items}
        if self.prompt_tokens:
            summary["prompt_tokens"] = self.prompt_tokens
        if self.completion_tokens:
            summary["completion_tokens"] = self.completion_tokens
        if self.audio_seconds:
            summary["audio_seconds"] = self.audio_seconds
        summary.setdefault("prompt_tokens", 0)
        return summary
