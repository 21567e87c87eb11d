"""What a call costs (price x units), and the most it can use, which admission reserves.

Cost of one usage row, kept to ``aiaas.db.money.PLACES`` decimal places (half-even, after the
sum), exactly as stored:

    input_per_1k x prompt_tokens / 1000 + output_per_1k x completion_tokens / 1000
    + per_item x items + per_audio_minute x audio_seconds / 60 + per_request

over the units the usage row records. A failed call costs nothing; a cancelled stream is
charged the tokens it generated (that work was done) but not ``per_request``.

``most_units`` bounds a call's units before any model work, from its inputs: prompt tokens by
the UTF-8 bytes of its text (a byte-level or word-piece token covers at least one byte) plus the
chat template's own tokens, completion tokens by ``max_tokens`` (the model's default when the
request sets none), audio by the length its header declares (the server's maximum when no
header says). A length an MP3 header only estimates may be short of the decoded length.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from aiaas.billing.prices import PriceInfo
from aiaas.calls.call import NOT_GIVEN, ResolvedCall
from aiaas.db.money import ZERO, quantized
from aiaas.errors import AiaasError
from aiaas.tasks.audio import b64_audio, probe
from aiaas.tasks.base import Limits
from aiaas.tasks.generation_params import DEFAULT_MAX_TOKENS
from aiaas.tasks.units import Units

CHARGED = frozenset({"ok", "cancelled"})
"""Statuses that cost something: ``ok`` fully, ``cancelled`` for the units it used."""
TEMPLATE_TOKENS = 64
"""Tokens a chat template may add around one conversation (a default system prompt)."""
MESSAGE_TOKENS = 8
"""Tokens a chat template may add around each message (role markers, separators)."""
TEXT_SPECIAL_TOKENS = 2
"""Tokens an encoder adds around one text ([CLS] ... [SEP])."""
THOUSAND, MINUTE = Decimal(1000), Decimal(60)


def cost_of(price: PriceInfo | None, units: Units, status: str = "ok") -> Decimal:
    """What ``units`` cost at ``price`` (0 without one, or for a failed call)."""
    if price is None or status not in CHARGED:
        return ZERO
    total = ZERO  # only the rates a price sets: most set one or two
    if price.input_per_1k and units.prompt_tokens:
        total += price.input_per_1k * units.prompt_tokens / THOUSAND
    if price.output_per_1k and units.completion_tokens:
        total += price.output_per_1k * units.completion_tokens / THOUSAND
    if price.per_item and units.items:
        total += price.per_item * units.items
    if price.per_audio_minute and units.audio_seconds:
        total += price.per_audio_minute * Decimal(repr(float(units.audio_seconds))) / MINUTE
    if status == "ok":
        total += price.per_request
    return quantized(total)


def recorded(units: Units, status: str) -> Units:
    """The units a usage row records for a call that ended with ``status`` (the meter's rule: a
    failed call's items are not counted, its tokens and audio are)."""
    return units if status == "ok" else Units(0, units.prompt_tokens, units.completion_tokens,
                                              units.audio_seconds)


async def most_units(call: ResolvedCall, limits: Limits) -> Units:
    """The most ``call`` can use; audio headers are read on a worker thread."""
    inputs = [] if call.inputs is NOT_GIVEN else call.inputs
    items = inputs if isinstance(inputs, list) else [inputs]
    task = call.task.name
    config = call.version.config
    if task == "speech-recognition":
        seconds = await asyncio.to_thread(_audio_seconds, items, limits)
        return Units(len(items), 0, 0, seconds)
    prompt = sum(_prompt_tokens(item) for item in items)
    completion = 0
    if call.task.streaming or task == "text2text":
        completion = _max_tokens(call.parameters, config, limits) * len(items)
    return Units(len(items), prompt, completion)


def _prompt_tokens(item: Any) -> int:
    if isinstance(item, str):
        return len(item.encode("utf-8", "replace")) + TEXT_SPECIAL_TOKENS
    if isinstance(item, dict):
        messages = item.get("messages")
        if isinstance(messages, list):
            return TEMPLATE_TOKENS + sum(
                MESSAGE_TOKENS + _prompt_tokens(m.get("content") if isinstance(m, dict) else m)
                for m in messages)
        prompt = item.get("prompt")
        if isinstance(prompt, str):
            return TEMPLATE_TOKENS + _prompt_tokens(prompt)
    return 0


def _max_tokens(parameters: Any, config: dict[str, Any], limits: Limits) -> int:
    ceiling = int(config.get("max_tokens_limit", limits.max_tokens))
    asked = parameters.get("max_tokens") if isinstance(parameters, dict) else None
    if asked is None:
        asked = (config.get("sampling_defaults") or {}).get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
        return ceiling
    return min(asked, ceiling)


def _audio_seconds(items: list[Any], limits: Limits) -> float:
    total = 0.0
    for item in items:
        audio = item.get("audio") if isinstance(item, dict) else item
        declared = None
        try:
            if isinstance(audio, str):
                declared = probe(b64_audio(audio), max_seconds=limits.max_audio_seconds).header_seconds
            elif isinstance(audio, bytes | bytearray):
                declared = probe(bytes(audio), max_seconds=limits.max_audio_seconds).header_seconds
        except AiaasError:
            pass  # the task's own check refuses it next, naming the field
        total += limits.max_audio_seconds if declared is None else min(
            declared, limits.max_audio_seconds)
    return total
