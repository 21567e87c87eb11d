"""Placeholders and the stream filters, with a deterministic stand-in for the analyzer (a
regex for one name and emails): placeholders are stable within a request and numbered in order
of appearance, originals come back exactly, and a streamed text fed in one-character pieces
comes out redacted (or restored) exactly as the whole text would be, never holding more than the
look-back."""

from __future__ import annotations

import re

import pytest

from aiaas.privacy.entities import Entity
from aiaas.privacy.redaction import (
    LOOKBACK,
    STEP,
    Pseudonyms,
    StreamRedactor,
    StreamRestorer,
)

PATTERN = re.compile(r"Ann Lee|Bo Chen|[\w.]+@[\w.]+\.\w+")


def fake_analyze(text: str) -> list[Entity]:
    return [Entity("EMAIL_ADDRESS" if "@" in m.group() else "PERSON", m.start(), m.end(), 1.0)
            for m in PATTERN.finditer(text)]


def test_placeholders_are_stable_and_numbered_in_order() -> None:
    pseudonyms = Pseudonyms()
    first = "Ann Lee wrote to Bo Chen at bo@example.org."
    second = "Bo Chen answered Ann Lee."
    assert pseudonyms.redact(first, fake_analyze(first)) == (
        "<PERSON_1> wrote to <PERSON_2> at <EMAIL_ADDRESS_1>.")
    assert pseudonyms.redact(second, fake_analyze(second)) == "<PERSON_2> answered <PERSON_1>."
    assert pseudonyms.restore("Dear <PERSON_2>, mail <EMAIL_ADDRESS_1>; <PERSON_9> <b>") == (
        "Dear Bo Chen, mail bo@example.org; <PERSON_9> <b>")


@pytest.mark.parametrize("piece", [1, 3, 7, 200])
def test_stream_redactor_matches_whole_text(piece: int) -> None:
    text = ("Hello there, this is a long reply. Please contact Ann Lee at ann.lee@example.org "
            "or Bo Chen, who sits next to Ann Lee, about the invoice. Thanks a lot!" * 2)
    whole = Pseudonyms().redact(text, fake_analyze(text))
    redactor = StreamRedactor(Pseudonyms(), fake_analyze)
    sent, held = [], []
    for start in range(0, len(text), piece):
        sent.append(redactor.feed(text[start:start + piece]))
        held.append(len(text[:start + piece]) - len(_original_length(sent)))
    sent.append(redactor.flush())
    assert "".join(sent) == whole
    assert max(held) <= LOOKBACK + STEP + piece + 20  # a word's worth beyond the look-back


def _original_length(sent: list[str]) -> str:
    """The original text the redacted pieces stand for (placeholders back to their values)."""
    restored = "".join(sent)
    for value, name in (("ann.lee@example.org", "<EMAIL_ADDRESS_1>"), ("Ann Lee", "<PERSON_1>"),
                        ("Bo Chen", "<PERSON_2>")):
        restored = restored.replace(name, value)
    return restored


def test_stream_redactor_leaves_model_placeholders_alone() -> None:
    pseudonyms = Pseudonyms()
    pseudonyms.placeholder("PERSON", "Ann Lee")
    redactor = StreamRedactor(pseudonyms, fake_analyze)
    text = "Sure, <PERSON_1> will write to Bo Chen tomorrow about the shipment and the bill."
    out = "".join(redactor.feed(c) for c in text) + redactor.flush()
    assert out == "Sure, <PERSON_1> will write to <PERSON_2> tomorrow about the shipment and the bill."


@pytest.mark.parametrize("piece", [1, 2, 5])
def test_stream_restorer_puts_originals_back_across_pieces(piece: int) -> None:
    pseudonyms = Pseudonyms()
    pseudonyms.placeholder("PERSON", "Ann Lee")
    pseudonyms.placeholder("EMAIL_ADDRESS", "ann@example.org")
    text = "Hi <PERSON_1>! I will mail <EMAIL_ADDRESS_1>. 3 < 4 and <PERSON_7> stays."
    restorer = StreamRestorer(pseudonyms)
    out = "".join(restorer.feed(text[i:i + piece]) for i in range(0, len(text), piece))
    out += restorer.flush()
    assert out == "Hi Ann Lee! I will mail ann@example.org. 3 < 4 and <PERSON_7> stays."


def test_restorer_flushes_an_unfinished_placeholder_as_written() -> None:
    restorer = StreamRestorer(Pseudonyms())
    assert restorer.feed("the end <PERS") == "the end "
    assert restorer.flush() == "<PERS"


def test_adjacent_entities_keep_their_own_placeholders() -> None:
    text = "Siobhan Gallagher 32 Glenview Park, Galway"
    entities = [Entity("PERSON", 0, 17, 0.9), Entity("LOCATION", 18, 34, 0.9),
                Entity("LOCATION", 36, 42, 0.9)]
    assert Pseudonyms().redact(text, entities) == "<PERSON_1> <LOCATION_1>, <LOCATION_2>"
