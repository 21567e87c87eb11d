"""Sampling parameters of one generation: checked once (422 naming the field), then typed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from aiaas.errors import Invalid

DEFAULT_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 1024
"""The largest ``max_tokens`` a request may ask for unless the model's config says otherwise."""
MAX_STOP = 4
MAX_STOP_CHARS = 256
MAX_TEMPERATURE = 2.0
SEED_RANGE = (-(2**63), 2**64 - 1)
KNOWN = ("max_tokens", "temperature", "top_p", "stop", "seed", "n")


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What the engine needs. ``temperature == 0`` is greedy decoding (``top_p``/``seed`` unused)."""

    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None

    @classmethod
    def of(cls, checked: dict[str, Any]) -> GenerationParams:
        """From the dict ``check_generation_parameters`` returned."""
        return cls(max_tokens=int(checked["max_tokens"]), temperature=float(checked["temperature"]),
                   top_p=float(checked["top_p"]), stop=tuple(checked["stop"]), seed=checked["seed"])


def _fail(name: str, message: str, **details: Any) -> Invalid:
    return Invalid.at(f"parameters.{name}", message, naming="subject", **details)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(parameters: dict[str, Any], name: str, default: float) -> float:
    value = parameters.get(name, default)
    if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value):
        raise _fail(name, f"must be a number, got {value!r}")
    return float(value)


def check_generation_parameters(parameters: dict[str, Any], *, max_tokens_limit: int = MAX_TOKENS_LIMIT
                                ) -> dict[str, Any]:
    """Validate the parameters of a chat or completion call; return them with defaults filled
    (JSON-friendly: the result is stored per request and turned into ``GenerationParams``)."""
    unknown = set(parameters) - set(KNOWN)
    if unknown:
        raise Invalid(f"unknown parameter(s): {', '.join(sorted(unknown))}; known: {', '.join(KNOWN)}",
                      details={"field": "parameters"})
    max_tokens = parameters.get("max_tokens", min(DEFAULT_MAX_TOKENS, max_tokens_limit))
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _fail("max_tokens", f"must be a positive integer, got {max_tokens!r}")
    if max_tokens > max_tokens_limit:
        raise _fail("max_tokens", f"is {max_tokens}, past the limit of {max_tokens_limit} tokens "
                    "per request", limit=max_tokens_limit)
    temperature = _number(parameters, "temperature", 1.0)
    if not 0 <= temperature <= MAX_TEMPERATURE:
        raise _fail("temperature", f"must be between 0 and {MAX_TEMPERATURE:g}, got {temperature:g}")
    top_p = _number(parameters, "top_p", 1.0)
    if not 0 < top_p <= 1:
        raise _fail("top_p", f"must be greater than 0 and at most 1, got {top_p:g}")
    seed = parameters.get("seed")
    if seed is not None and (not _is_int(seed) or not SEED_RANGE[0] <= seed <= SEED_RANGE[1]):
        raise _fail("seed", f"must be a 64-bit integer, got {seed!r}")
    n = parameters.get("n", 1)
    if not _is_int(n) or n != 1:
        raise _fail("n", f"must be 1 (one choice per input), got {n!r}")
    return {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
            "stop": _stops(parameters.get("stop")), "seed": seed}


def _stops(value: Any) -> list[str]:
    if value is None:
        return []
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _fail("stop", "must be a string or a list of strings")
    if len(stops) > MAX_STOP:
        raise _fail("stop", f"has {len(stops)} strings; at most {MAX_STOP}", limit=MAX_STOP)
    for index, stop in enumerate(stops):
        if not stop or len(stop) > MAX_STOP_CHARS:
            raise _fail("stop", f"[{index}] must be 1 to {MAX_STOP_CHARS} characters")
    return list(stops)
