"""Text to text (translation, summarisation): strings in, ``{"text"}`` out.

Served by transformers encoder-decoder directories (T5, BART, Marian, Pegasus, ...), run with
``generate`` in batches. Parameters: ``max_tokens`` (new tokens per output, 1..``MAX_TOKENS``,
default ``DEFAULT_MAX_TOKENS``) and ``num_beams`` (1..``MAX_BEAMS``, default 1: greedy).
Decoding is deterministic (no sampling), so the same input gives the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, check_text

if TYPE_CHECKING:
    from aiaas.formats import Detected

MAX_TOKENS = 512
DEFAULT_MAX_TOKENS = 128
MAX_BEAMS = 4


def _bounded_int(parameters: dict[str, Any], name: str, default: int, high: int) -> int:
    value = parameters.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise Invalid.at(f"parameters.{name}", f"must be an integer from 1 to {high}, got {value!r}",
                         naming="subject")
    return value


class Text2TextTask(Task):
    name = "text2text"
    unit = "tokens"

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        from aiaas.formats.hf import FORMAT

        if detected.format != FORMAT:
            raise Invalid(f"text2text is served from transformers directories, not {detected.format}")
        return {"architecture": detected.config["architecture"],
                "model_type": detected.config["model_type"]}

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        return check_text(item, index, limits)

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        unknown = set(parameters) - {"max_tokens", "num_beams"}
        if unknown:
            raise Invalid(f"unknown parameter(s) for text2text: {', '.join(sorted(unknown))}; "
                          "known: max_tokens, num_beams", details={"field": "parameters"})
        return {
            "max_tokens": _bounded_int(parameters, "max_tokens", DEFAULT_MAX_TOKENS, MAX_TOKENS),
            "num_beams": _bounded_int(parameters, "num_beams", 1, MAX_BEAMS),
        }
