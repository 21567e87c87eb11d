"""Typed classifier outputs serialise, through the native API's ORJSONResponse, to exactly the
bytes the dictionaries they replace did (field order is the wire order)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from aiaas.tasks.outputs import Classification
from aiaas.tasks.text_classification import classification_output


def _json(content: Any) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI deprecates the class, the API still uses it
        from fastapi.responses import ORJSONResponse

        return bytes(ORJSONResponse(content).body)


def test_a_ranked_classification_is_the_same_json_as_the_dictionary() -> None:
    output = classification_output(["cat", "dog", "owl"], [0.25, 0.5, 0.25], 2)
    before = {"label": "dog", "score": 0.5,
              "probabilities": {"cat": 0.25, "dog": 0.5, "owl": 0.25},
              "top_k": [{"label": "dog", "score": 0.5}, {"label": "cat", "score": 0.25}]}
    assert _json({"outputs": [output]}) == _json({"outputs": [before]})
    assert output.top_k[0].label == "dog" and output.label == "dog"


def test_a_tabular_classification_has_no_top_k() -> None:
    output = Classification("setosa", 0.9, {"setosa": 0.9, "virginica": 0.1})
    assert _json([output]) == (b'[{"label":"setosa","score":0.9,'
                               b'"probabilities":{"setosa":0.9,"virginica":0.1}}]')
    assert dataclasses.asdict(output) == {"label": "setosa", "score": 0.9,
                                          "probabilities": {"setosa": 0.9, "virginica": 0.1}}
