"""The task contract's checks say which item an error is about, as data."""

from __future__ import annotations

from typing import Any

import pytest

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, about_item, item_error, item_field

LIMITS = Limits(max_inputs=8, max_input_chars=100)


class Halves(Task):
    """Takes numbers; names a part of the item (as the image and audio helpers do), the item
    as a whole, or no field at all."""

    name = "halves"

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        if item == "part":
            raise Invalid.at(f"{item_field(index)}.value", "must be a number")
        if item == "config":
            raise Invalid("the model's configuration is broken")
        if not isinstance(item, int):
            raise item_error(index, f"expected a number, got {type(item).__name__}")
        return item / 2


def refusal(inputs: list[Any]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        Halves().check(inputs, None, {}, LIMITS)
    return caught.value


def test_an_item_error_names_the_item_and_carries_its_index() -> None:
    error = refusal([1, 2, "x"])
    assert (error.message, error.details) == ("inputs[2]: expected a number, got str",
                                              {"field": "inputs[2]"})
    assert (error.field, error.index, error.reason) == ("inputs[2]", 2, "expected a number, got str")


def test_an_error_about_a_part_of_an_item_learns_the_item() -> None:
    error = refusal([4, "part"])
    assert (error.message, error.field, error.index, error.reason) == (
        "inputs[1].value: must be a number", "inputs[1].value", 1, "must be a number")


def test_an_error_naming_no_field_is_not_said_of_an_item() -> None:
    assert refusal(["config"]).index is None


def test_list_errors_name_the_list_in_quotes() -> None:
    empty = refusal([])
    assert (empty.message, empty.field, empty.index) == (
        "'inputs' is empty: send at least one input", "inputs", None)
    with pytest.raises(Invalid, match=r"^'parameters' must be an object$"):
        Halves().check([1], [], {}, LIMITS)


def test_about_item_keeps_an_index_already_given() -> None:
    with pytest.raises(Invalid) as caught, about_item(5):
        raise item_error(2, "no")
    assert caught.value.index == 2
