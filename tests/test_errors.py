"""Domain errors carry what is wrong as data: the field, the item, the bare reason; a renamed
error says the same with another spelling of its field."""

from __future__ import annotations

from aiaas.errors import Invalid, PayloadTooLarge, WrongTask


def test_an_error_at_a_field_names_it_in_its_message_and_details() -> None:
    error = Invalid.at("inputs[2]", "empty string", index=2)
    assert (error.message, error.details) == ("inputs[2]: empty string", {"field": "inputs[2]"})
    assert (error.field, error.index, error.reason, error.naming) == (
        "inputs[2]", 2, "empty string", "prefix")
    assert str(error) == error.message


def test_the_three_namings_and_details_after_the_field() -> None:
    subject = Invalid.at("parameters.top_k", "must be a positive integer", naming="subject")
    quoted = Invalid.at("inputs", "is empty: send at least one input", naming="quoted")
    limited = PayloadTooLarge.at("inputs[0].audio", "too long", limit_seconds=30.0)
    assert subject.message == "parameters.top_k must be a positive integer"
    assert quoted.message == "'inputs' is empty: send at least one input"
    assert limited.details == {"field": "inputs[0].audio", "limit_seconds": 30.0}
    assert list(limited.details) == ["field", "limit_seconds"]


def test_a_message_as_written_still_reads_its_field_from_details() -> None:
    error = Invalid("unknown parameter(s): x", details={"field": "parameters"})
    assert (error.field, error.index, error.reason, error.naming) == (
        "parameters", None, "unknown parameter(s): x", None)
    assert Invalid("bad", field="dataset", details={"row": 3}).details == {"field": "dataset",
                                                                           "row": 3}
    assert Invalid("bad").field is None


def test_renamed_restates_the_message_and_keeps_the_original() -> None:
    error = Invalid.at("inputs[0].audio", "not valid base64", index=0)
    renamed = error.renamed("file")
    assert (renamed.message, renamed.details, renamed.index) == (
        "file: not valid base64", {"field": "file"}, 0)
    assert str(renamed) == renamed.message
    assert error.message == "inputs[0].audio: not valid base64"  # shared errors stay intact
    assert error.details == {"field": "inputs[0].audio"}


def test_renamed_to_no_field_leaves_the_bare_reason() -> None:
    subject = Invalid.at("parameters.temperature", "must be a number", naming="subject")
    gone = Invalid.at("inputs[0]", "empty string", index=0).renamed(None)
    assert subject.renamed("temperature").message == "temperature must be a number"
    assert (gone.message, gone.details, gone.naming) == ("empty string", {"field": None}, None)


def test_a_quoted_field_renamed_to_nothing_keeps_the_message() -> None:
    quoted = Invalid.at("parameters", "must be an object", naming="quoted")
    assert quoted.renamed("params").message == "'params' must be an object"
    kept = quoted.renamed(None)
    assert (kept.message, kept.details) == ("'parameters' must be an object", {"field": None})


def test_a_message_as_written_is_not_reworded_by_a_rename() -> None:
    error = Invalid("too many inputs: 5 > 4", details={"field": "inputs", "limit": 4})
    renamed = error.renamed("input")
    assert (renamed.message, renamed.details) == ("too many inputs: 5 > 4",
                                                  {"field": "input", "limit": 4})


def test_renamed_keeps_the_class_and_its_own_attributes() -> None:
    wrong = WrongTask("m", served="chat", asked="embedding").renamed("model_name")
    too_large = PayloadTooLarge.at("inputs[1]", "over the limit", index=1).renamed("input[1]")
    assert isinstance(wrong, WrongTask) and (wrong.served, wrong.asked) == ("chat", "embedding")
    assert type(too_large) is PayloadTooLarge and too_large.code == "payload_too_large"
    assert too_large.message == "input[1]: over the limit"
