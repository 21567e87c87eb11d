"""The PERSON / LOCATION recogniser, built once per installation (conftest's ``pii_model``: about
5 minutes on 2 cores the first time, then reused), run on sentences written for these tests
(none from the bench sets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.privacy import ner_data
from aiaas.privacy.ner_model import META, RECIPE, NameRecognizer, Span, ensure


@pytest.fixture(scope="module")
def model_dir(pii_model: Path) -> Path:
    return pii_model


@pytest.fixture(scope="module")
def recognizer(model_dir: Path) -> NameRecognizer:
    return NameRecognizer.load(model_dir)


def found(recognizer: NameRecognizer, text: str) -> list[tuple[str, str]]:
    [spans] = recognizer.find([text])
    return [(span.type, text[span.start:span.end]) for span in spans]


def test_ensure_reuses_the_cached_build(model_dir: Path) -> None:
    assert model_dir.name == f"pii-ner-{RECIPE}"
    stamp = (model_dir / META).stat().st_mtime_ns
    assert ensure(model_dir.parent) == model_dir
    assert (model_dir / META).stat().st_mtime_ns == stamp


@pytest.mark.parametrize(("text", "expected"), [
    ("Please ring Mrs. Gwendolyn Hartley about the overdue invoice.",
     [("PERSON", "Gwendolyn Hartley")]),
    ("The replacement router was sent to 45 Elm Street, Springfield, IL 62704 on Friday.",
     [("LOCATION", "45 Elm Street, Springfield, IL 62704")]),
    ("Rafael Domínguez and his sister Inés flew from Montevideo to Toronto.",
     [("PERSON", "Rafael Domínguez"), ("PERSON", "Inés"), ("LOCATION", "Montevideo"),
      ("LOCATION", "Toronto")]),
    ("Seen in clinic today. Reviewed by Dr. Okonkwo, who will repeat the ECG in March.",
     [("PERSON", "Okonkwo")]),
    ("hey its priya, can u grab me from the station at 6? my phone is dying",
     [("PERSON", "priya")]),
    ("Kind regards,\nTobias Lindgren\nAccounts, Harbourline Freight Ltd",
     [("PERSON", "Tobias Lindgren")]),
])
def test_finds_names_and_places_with_exact_offsets(recognizer: NameRecognizer, text: str,
                                                   expected: list[tuple[str, str]]) -> None:
    assert found(recognizer, text) == expected


def test_a_text_with_no_names_yields_nothing(recognizer: NameRecognizer) -> None:
    texts = ["Release 3.2 fixes the export bug; run migration 0042 and restart the worker on Monday.",
             "Take metformin 500 mg twice daily with food. HbA1c 48 mmol/mol, review in May.",
             ""]
    assert recognizer.find(texts) == [[], [], []]


def test_long_texts_are_read_in_windows_with_offsets_into_the_whole_text(recognizer: NameRecognizer) -> None:
    filler = "The quarterly figures were reviewed and the backlog is unchanged. " * 60
    text = f"Memo from Henrietta Walcott. {filler}Questions to Bartholomew Quist in Rotterdam."
    spans = recognizer.find([text])[0]
    assert [(s.type, text[s.start:s.end]) for s in spans] == [
        ("PERSON", "Henrietta Walcott"), ("PERSON", "Bartholomew Quist"), ("LOCATION", "Rotterdam")]
    assert all(isinstance(s, Span) and 0.5 <= s.score <= 1 for s in spans)


def test_batches_give_the_same_answer_as_single_texts(recognizer: NameRecognizer) -> None:
    texts = ["Lunch with Ngozi Eze in Abuja.", "No entities here at all.", "Ticket for Sven Halvorsen."]
    batched = recognizer.find(texts)
    single = [recognizer.find([text])[0] for text in texts]
    assert [[(s.type, s.start, s.end) for s in spans] for spans in batched] == \
        [[(s.type, s.start, s.end) for s in spans] for spans in single]


def test_training_text_is_seeded_and_its_spans_are_words() -> None:
    first, again = ner_data.generate(200, seed=5), ner_data.generate(200, seed=5)
    assert first == again
    assert ner_data.generate(5, seed=6) != first[:5]
    for example in first:
        for start, end, label in example.spans:
            piece = example.text[start:end]
            assert piece and piece == piece.strip() and label in ("PERSON", "LOCATION")
    labels = [label for example in first for _, _, label in example.spans]
    assert labels.count("PERSON") > 100 and labels.count("LOCATION") > 50


def test_token_tags_are_bio_over_character_offsets() -> None:
    text = "Dr. Ana Lima, Porto"
    spans = [(4, 12, "PERSON"), (14, 19, "LOCATION")]
    offsets = [(0, 0), (0, 2), (2, 3), (4, 7), (8, 10), (10, 12), (12, 13), (14, 19), (0, 0)]
    tags = [ner_data.LABELS[t] for t in ner_data.token_tags(offsets, spans)]
    assert text[4:12] == "Ana Lima"
    assert tags == ["O", "O", "O", "B-PERSON", "I-PERSON", "I-PERSON", "O", "B-LOCATION", "O"]
