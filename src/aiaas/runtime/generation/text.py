"""Turning generated token ids into streamed text: incremental decoding and stop strings.

``IncrementalDecoder`` emits only text that is final: a token that ends inside a multi-byte
character (decoded as U+FFFD) is held until the character completes, and a short window of
previous tokens is re-decoded so tokenizers that merge spaces across tokens stay exact.
``StopFilter`` holds back any tail that could be the start of a stop string, so a stop that spans
token boundaries is found and never emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REPLACEMENT = "\ufffd"


class Detokenizer(Protocol):
    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool) -> str: ...


class IncrementalDecoder:
    def __init__(self, tokenizer: Detokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token: int) -> str:
        """Add one token; return the text that is now final (possibly empty)."""
        self.ids.append(token)
        prefix = self._decode(self.ids[self.prefix_offset:self.read_offset])
        text = self._decode(self.ids[self.prefix_offset:])
        if len(text) > len(prefix) and not text.endswith(REPLACEMENT):
            self.prefix_offset = self.read_offset
            self.read_offset = len(self.ids)
            return text[len(prefix):]
        return ""

    def flush(self) -> str:
        """Whatever is still held (an incomplete character stays as U+FFFD) at the end."""
        prefix = self._decode(self.ids[self.prefix_offset:self.read_offset])
        text = self._decode(self.ids[self.prefix_offset:])
        self.prefix_offset = self.read_offset = len(self.ids)
        return text[len(prefix):] if len(text) > len(prefix) else ""


class StopFilter:
    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Add decoded text; return ``(text safe to emit, stopped)``. Once stopped, the emitted
        text ends right before the earliest stop string."""
        if not self.stops:
            return text, False
        self.pending += text
        found = [index for index in (self.pending.find(stop) for stop in self.stops) if index >= 0]
        if found:
            emit, self.pending = self.pending[:min(found)], ""
            return emit, True
        held = self._held_back()
        emit = self.pending[:len(self.pending) - held]
        self.pending = self.pending[len(self.pending) - held:]
        return emit, False

    def _held_back(self) -> int:
        """The longest tail of ``pending`` that is a proper prefix of some stop string."""
        longest = 0
        for stop in self.stops:
            for size in range(min(len(stop) - 1, len(self.pending)), longest, -1):
                if self.pending.endswith(stop[:size]):
                    longest = size
                    break
        return longest

    def flush(self) -> str:
        """The held-back tail, at the end of a generation that did not stop on a string."""
        text, self.pending = self.pending, ""
        return text
