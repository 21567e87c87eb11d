"""Text generation tasks, streamed by a ``StreamingBackend``.

- ``chat``: an item is ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}``
  ending with a user message; the model's chat template turns it into a prompt.
- ``completion``: an item is a prompt string (or ``{"prompt": str}``) that the model continues.

Both return ``{"text", "finish_reason"}`` per input (``"stop"``: end of turn or a stop string;
``"length"``: ``max_tokens`` reached) and take ``max_tokens``, ``temperature``, ``top_p``, ``stop``,
``seed`` and ``n`` (1 only). Usage is counted in prompt and completion tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiaas.errors import Invalid
from aiaas.tasks.base import Limits, Task, item_error
from aiaas.tasks.generation_params import check_generation_parameters

if TYPE_CHECKING:
    from aiaas.formats import Detected

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 256


class _GenerationTask(Task):
    unit = "tokens"
    streaming = True

    def prepare_config(self, detected: Detected, source: Path) -> dict[str, Any]:
        """What detection found (GGUF file name, context length); ``max_tokens_limit`` may be
        set in a version's config, else ``AIAAS_MAX_TOKENS`` applies."""
        config = dict(detected.config)
        config["tasks"] = [task for task in detected.tasks if task in ("chat", "completion")]
        if detected.manifest.sampling is not None:
            chosen = detected.manifest.sampling.model_dump(exclude_none=True)
            config["sampling_defaults"] = {**config.get("sampling_defaults", {}), **chosen}
        return config

    def output_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": ["text", "finish_reason"], "properties": {
            "text": {"type": "string"},
            "finish_reason": {"type": "string", "enum": ["stop", "length"]},
        }}

    def check_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return check_generation_parameters(parameters)

    def check(self, inputs: Any, parameters: Any, config: dict[str, Any], limits: Limits
              ) -> tuple[list[Any], dict[str, Any]]:
        """The inputs as every task checks them; the parameters against this model's limit, with
        the model's ``sampling_defaults`` for what the request leaves out."""
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise Invalid.at("parameters", "must be an object", naming="quoted")
        items, _ = super().check(inputs, {}, config, limits)
        limit = int(config.get("max_tokens_limit", limits.max_tokens))
        defaults = config.get("sampling_defaults") or {}
        return items, check_generation_parameters({**defaults, **parameters}, max_tokens_limit=limit)


def _text(value: Any, index: int, where: str, limits: Limits) -> str:
    if not isinstance(value, str):
        raise item_error(index, f"{where} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise item_error(index, f"{where} is empty")
    if len(value) > limits.max_input_chars:
        raise item_error(index, f"{where} is longer than {limits.max_input_chars} characters")
    return value


class ChatTask(_GenerationTask):
    name = "chat"

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        message = {"type": "object", "required": ["role", "content"], "additionalProperties": False,
                   "properties": {"role": {"type": "string", "enum": list(ROLES)},
                                  "content": {"type": "string"}}}
        return {"type": "object", "required": ["messages"], "additionalProperties": False,
                "properties": {"messages": {"type": "array", "items": message, "minItems": 1,
                                            "maxItems": MAX_MESSAGES}}}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        if not isinstance(item, dict):
            raise item_error(index, f'expected an object {{"messages": [...]}}, got {type(item).__name__}')
        extra = set(item) - {"messages"}
        if extra:
            raise item_error(index, f"unknown field(s) {', '.join(sorted(map(str, extra)))}; "
                             "an item is {\"messages\": [...]}")
        messages = item.get("messages")
        if not isinstance(messages, list) or not messages:
            raise item_error(index, "'messages' must be a non-empty list of {role, content} objects")
        if len(messages) > MAX_MESSAGES:
            raise item_error(index, f"more than {MAX_MESSAGES} messages")
        checked = []
        total = 0
        for number, message in enumerate(messages):
            where = f"messages[{number}]"
            if not isinstance(message, dict) or set(message) != {"role", "content"}:
                raise item_error(index, f"{where} must be an object with exactly 'role' and 'content'")
            role = message["role"]
            if role not in ROLES:
                raise item_error(index, f"{where}.role must be one of {', '.join(ROLES)}; got {role!r}")
            content = _text(message["content"], index, f"{where}.content", limits)
            total += len(content)
            checked.append({"role": role, "content": content})
        if total > limits.max_input_chars:
            raise item_error(index, f"the messages hold {total} characters, more than "
                             f"{limits.max_input_chars}")
        if checked[-1]["role"] != "user":
            raise item_error(index, f"the last message (messages[{len(checked) - 1}]) must be from "
                             f"the user, not the {checked[-1]['role']}")
        return {"messages": checked}


class CompletionTask(_GenerationTask):
    name = "completion"

    def input_schema(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "required": ["prompt"], "additionalProperties": False,
             "properties": {"prompt": {"type": "string", "minLength": 1}}},
        ]}

    def check_item(self, item: Any, index: int, config: dict[str, Any], limits: Limits) -> Any:
        if isinstance(item, dict):
            if set(item) != {"prompt"}:
                raise item_error(index, 'expected a prompt string or {"prompt": str}')
            return _text(item["prompt"], index, "prompt", limits)
        return _text(item, index, "the prompt", limits)
