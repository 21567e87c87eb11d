"""Cost = price x units, and the most a call can use before any model work (what admission
reserves), from the call's inputs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from aiaas.auth.principal import Principal
from aiaas.billing.cost import cost_of, most_units, recorded
from aiaas.billing.prices import PriceInfo
from aiaas.calls.call import ModelCall, ResolvedCall
from aiaas.registry.records import VersionInfo
from aiaas.tasks import get_task
from aiaas.tasks.base import Limits
from aiaas.tasks.units import Units

LIMITS = Limits(max_inputs=256, max_input_chars=20_000, max_audio_seconds=600, max_tokens=1024)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def price(**rates: str) -> PriceInfo:
    values = {name: Decimal(rates.get(name, "0")) for name in (
        "input_per_1k", "output_per_1k", "per_item", "per_audio_minute", "per_request")}
    return PriceInfo(id=1, tenant="builtin", model="m", version=None, currency="USD",
                     effective_from=NOW, created_by="k", created_at=NOW, **values)


def test_cost_is_each_rate_times_its_unit() -> None:
    rates = price(input_per_1k="0.5", output_per_1k="1.5", per_item="0.01",
                  per_audio_minute="0.006", per_request="0.002")
    units = Units(items=2, prompt_tokens=37, completion_tokens=3, audio_seconds=5.25)
    # 0.5*37/1000 + 1.5*3/1000 + 0.01*2 + 0.006*5.25/60 + 0.002
    assert cost_of(rates, units) == Decimal("0.0185") + Decimal("0.0045") + Decimal("0.02") \
        + Decimal("0.000525") + Decimal("0.002")
    assert cost_of(None, units) == 0
    assert cost_of(rates, units, "backend_error") == 0
    assert cost_of(rates, units, "cancelled") == Decimal("0.043525")  # no per_request
    assert cost_of(price(per_audio_minute="1"), Units(audio_seconds=1.0)) == Decimal("0.0166666667")
    assert recorded(units, "cancelled").items == 0 and recorded(units, "ok") == units


def call(task: str, inputs: Any, parameters: Any = None,
         config: dict[str, Any] | None = None) -> ResolvedCall:
    version = VersionInfo(model="m", tenant="builtin", version=1, task=task, format="f",
                          framework="f", sha256="0" * 64, size_bytes=1, input_schema={},
                          output_schema={}, labels=[], metrics={}, config=config or {},
                          preload=False, created_by="k", created_at=NOW)
    principal = Principal("clinic", "k", frozenset())
    return ResolvedCall(ModelCall(principal, "m", inputs=inputs, parameters=parameters), version,
                        get_task(task), inputs, parameters)


async def test_chat_reserves_its_prompt_bytes_plus_template_and_max_tokens() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Où est la gare ?"}]
    most = await most_units(call("chat", [{"messages": messages}], {"max_tokens": 7}), LIMITS)
    text_bytes = len(b"Be brief.") + len("Où est la gare ?".encode()) + 2 * 2
    assert most == Units(items=1, prompt_tokens=64 + 2 * 8 + text_bytes, completion_tokens=7)
    default = await most_units(call("chat", [{"messages": messages}], None), LIMITS)
    assert default.completion_tokens == 256  # the engine's default max_tokens
    capped = await most_units(call("completion", ["Once"], {"max_tokens": 10**6},
                                   {"max_tokens_limit": 50}), LIMITS)
    assert capped.completion_tokens == 50


async def test_embeddings_reserve_bytes_per_text() -> None:
    most = await most_units(call("embedding", ["hello", "wörld"]), LIMITS)
    assert most == Units(items=2, prompt_tokens=5 + 2 + 6 + 2)


@pytest.mark.parametrize(("audio", "seconds"), [("not audio", 600.0), (None, 600.0)])
async def test_audio_without_a_readable_header_reserves_the_longest_clip(
        audio: Any, seconds: float) -> None:
    most = await most_units(call("speech-recognition", [audio]), LIMITS)
    assert most == Units(items=1, audio_seconds=seconds)


async def test_audio_reserves_what_its_header_declares() -> None:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(16_000)
        clip.writeframes(b"\0\0" * 16_000 * 3)
    most = await most_units(call("speech-recognition", [buffer.getvalue()]), LIMITS)
    assert most.audio_seconds == pytest.approx(3.0)
