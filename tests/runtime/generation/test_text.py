"""Incremental detokenisation (with the real SmolLM2 tokenizer) and stop strings across pieces."""

from __future__ import annotations

from aiaas.runtime.backends.causal_lm import CausalLMBackend
from aiaas.runtime.generation.text import IncrementalDecoder, StopFilter


def test_incremental_decoding_never_splits_a_character(backend: CausalLMBackend) -> None:
    assert backend.tokenizer is not None
    text = "Grüße aus Zürich 🙂 — 東京は晴れ"
    ids = backend.tokenizer.tokenizer(text, add_special_tokens=False)["input_ids"]
    decoder = IncrementalDecoder(backend.tokenizer)
    deltas = [decoder.push(token) for token in ids]
    assert "".join(deltas) + decoder.flush() == text
    assert not any("\ufffd" in delta for delta in deltas)
    assert len(ids) > len(text.split())  # multi-byte characters spanned several tokens


def test_stop_filter_finds_stops_across_pieces() -> None:
    stops = StopFilter(["o W", "xyz"])
    assert stops.feed("Hel") == ("Hel", False)
    assert stops.feed("lo") == ("l", False)  # "o" could start "o W": held back
    assert stops.feed(" Wo") == ("", True)  # "Hello Wo" stops after "Hell"
    plain = StopFilter(["END"])
    assert plain.feed("the EN") == ("the ", False)
    assert plain.feed("ding") == ("ENding", False)
    assert plain.feed(" E") == (" ", False)
    assert plain.flush() == "E"
