"""Text embedding: strings in, ``{"embedding": [floats]}`` out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, check_text

if TYPE_CHECKING:
    from aiaas.formats import Detected


class EmbeddingTask(Task):
    name = "embedding"
    unit = "tokens"

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        pooling = source / "1_Pooling" / "config.json"
        try:
            dimensions = int(json.loads(pooling.read_text())["word_embedding_dimension"])
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        return {"dimensions": dimensions}

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "minLength": 1}}

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        vector: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
        if config.get("dimensions"):
            vector |= {"minItems": config["dimensions"], "maxItems": config["dimensions"]}
        return {"type": "object", "properties": {"embedding": vector}, "required": ["embedding"]}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        return check_text(item, index, limits)

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        unknown = set(parameters) - {"normalize"}
        if unknown:
            raise Invalid(
                f"unknown parameter(s) for embedding: {', '.join(sorted(unknown))}; "
                "known: normalize",
                details={"field": "parameters"},
            )
        normalize = parameters.get("normalize", True)
        if not isinstance(normalize, bool):
            raise Invalid.at("parameters.normalize", "must be true or false", naming="subject")
        return {"normalize": normalize}
