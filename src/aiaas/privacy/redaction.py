"""Typed placeholders for one request, and the filters that apply them to streamed text.

A request's ``Pseudonyms`` gives the same value the same placeholder in every text of the
request (``Ann Lee`` is ``<PERSON_1>`` in the system message, the user message and the reply),
so a model can still tell who is who; ``restore`` puts the originals back (``pseudonymize``).

The stream filters never hold the whole stream: ``StreamRedactor`` keeps a look-back of
``LOOKBACK`` characters unsent (a name split over two tokens is still seen whole) and
``StreamRestorer`` holds only a partial ``<...`` that may become a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiaas.privacy.entities import Entity

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d{1,4})>")
_PARTIAL = re.compile(r"<[A-Z_0-9]{0,24}$")

LOOKBACK = 48
"""Characters a redacted stream keeps unsent so an entity is analysed with what follows it."""
STEP = 24
"""New characters that trigger the next analysis of a redacted stream."""


@dataclass
class Pseudonyms:
    """The placeholders of one request, in order of first appearance per type."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    originals: dict[str, str] = field(default_factory=dict)

    def placeholder(self, type_: str, value: str) -> str:
        key = (type_, value.strip())
        found = self.by_value.get(key)
        if found is None:
            number = sum(1 for t, _ in self.by_value if t == type_) + 1
            found = f"<{type_}_{number}>"
            self.by_value[key] = found
            self.originals[found] = value
        return found

    def redact(self, text: str, entities: Sequence[Entity]) -> str:
        """``text`` with each entity replaced by its placeholder (entities must not overlap)."""
        if not entities:
            return text
        assigned = {(e.start, e.end): self.placeholder(e.type, text[e.start:e.end])
                    for e in sorted(entities, key=lambda e: e.start)}
        return _anonymize(text, entities, assigned)

    def restore(self, text: str) -> str:
        """``text`` with every placeholder of this request replaced by its original value
        (other ``<...>`` text is left alone)."""
        return PLACEHOLDER.sub(lambda m: self.originals.get(m.group(), m.group()), text)


def _anonymize(text: str, entities: Sequence[Entity], assigned: dict[tuple[int, int], str]
               ) -> str:
    parts, position = [], 0
    for entity in sorted(entities, key=lambda e: e.start):
        parts += [text[position:entity.start], assigned[(entity.start, entity.end)]]
        position = entity.end
    return "".join(parts) + text[position:]


class StreamRestorer:
    """Puts a request's originals back into generated text as it streams."""

    def __init__(self, pseudonyms: Pseudonyms) -> None:
        self.pseudonyms = pseudonyms
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        partial = _PARTIAL.search(text)
        self._held = partial.group() if partial else ""
        return self.pseudonyms.restore(text[:partial.start()] if partial else text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self.pseudonyms.restore(held)


class StreamRedactor:
    """Redacts generated text as it streams, ``LOOKBACK`` characters behind the model.

    ``analyze`` is the analyzer's one-text call (CPU work: the caller runs ``feed`` and
    ``flush`` on a worker thread). A cut never falls inside a word or a found entity.
    """

    def __init__(self, pseudonyms: Pseudonyms, analyze: Callable[[str], list[Entity]]) -> None:
        self.pseudonyms = pseudonyms
        self.analyze = analyze
        self._pending = ""
        self._since = 0

    def ready(self, text: str) -> bool:
        """Whether feeding ``text`` would analyse (else ``feed`` only buffers: no thread hop
        is needed)."""
        return self._since + len(text) >= STEP and len(self._pending) + len(text) > LOOKBACK

    def feed(self, text: str) -> str:
        self._pending += text
        self._since += len(text)
        if self._since < STEP or len(self._pending) <= LOOKBACK:
            return ""
        self._since = 0
        entities = self._found(self._pending)
        cut = len(self._pending) - LOOKBACK
        space = max(self._pending.rfind(" ", 0, cut + 1), self._pending.rfind("\n", 0, cut + 1))
        cut = space if space > 0 else 0
        for entity in entities:
            if entity.start < cut < entity.end:
                cut = entity.start
        if cut <= 0:
            return ""
        sent, self._pending = self._pending[:cut], self._pending[cut:]
        return self.pseudonyms.redact(sent, [e for e in entities if e.end <= cut])

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return self.pseudonyms.redact(pending, self._found(pending)) if pending else ""

    def _found(self, text: str) -> list[Entity]:
        placeholders = [(m.start(), m.end()) for m in PLACEHOLDER.finditer(text)]
        return [e for e in self.analyze(text)
                if not any(s < e.end and e.start < t for s, t in placeholders)]
