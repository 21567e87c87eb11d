"""The PII policy at the front door: an admission check for the inputs, an output filter for
what comes back. Every surface (native, ``/v1``, ``/v2``, evaluations) gets both.

Inputs: every string of a text task's inputs is analysed in one batch (chat message roles and
content-part types are not text a person wrote; they are skipped). Outputs: generated text and
transcripts (with their segments and words). The analyzer runs on a worker thread, never on the
event loop. If it cannot run, the call is refused (503 ``privacy_unavailable``): fail closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiaas.calls.admission import AdmissionCheck, Ticket
from aiaas.calls.call import NOT_GIVEN, ResolvedCall
from aiaas.calls.filters import OutputFilter
from aiaas.errors import Invalid
from aiaas.privacy.analyzer import Analyzer, Entity, fail_closed
from aiaas.privacy.policy import Policy, PolicyService
from aiaas.privacy.redaction import Pseudonyms, StreamRedactor, StreamRestorer
from aiaas.tasks.base import StreamEvent

TEXT_INPUT_TASKS = frozenset({"chat", "completion", "embedding", "text2text",
                              "text-classification"})
TEXT_OUTPUT_TASKS = frozenset({"chat", "completion", "text2text", "speech-recognition"})
_NOT_TEXT_KEYS = frozenset({"role", "type", "name", "tool_call_id", "image_url"})
_TAG = "privacy"


@dataclass
class CallPrivacy:
    """What the check decided for one call, for the output filter."""

    policy: Policy
    pseudonyms: Pseudonyms = field(default_factory=Pseudonyms)


class PrivacyCheck(AdmissionCheck, OutputFilter):
    name = "privacy"

    def __init__(self, policies: PolicyService, analyzer: Analyzer) -> None:
        self.policies = policies
        self.analyzer = analyzer

    async def admit(self, call: ResolvedCall) -> Ticket | None:
        task = call.task.name
        if task not in TEXT_INPUT_TASKS and task not in TEXT_OUTPUT_TASKS:
            return None
        principal = call.principal
        policy = await self.policies.applicable(principal.tenant, principal.key_id,
                                                call.version.model)
        if policy.mode == "off":
            return None
        state = CallPrivacy(policy)
        call.tags[_TAG] = state
        if task not in TEXT_INPUT_TASKS or call.inputs is NOT_GIVEN:
            return None
        with fail_closed("PII handling failed"):
            await self._inputs(call, state)
        return None

    async def _inputs(self, call: ResolvedCall, state: CallPrivacy) -> None:
        policy = state.policy
        leaves: list[tuple[str, str]] = []
        _collect(call.inputs, "inputs", leaves)
        texts = [text for _, text in leaves]
        found = await asyncio.to_thread(self.analyzer.analyze, texts, policy.entities)
        spans = [{"field": path, **e.as_dict()}
                 for (path, _), ents in zip(leaves, found, strict=True) for e in ents]
        if policy.mode == "detect":
            _note(call, "inputs", spans)
            return
        if policy.mode == "block" and spans:
            listed = ", ".join(f"{s['type']} at {s['field']}[{s['start']}:{s['end']}]"
                               for s in spans[:10])
            raise Invalid(f"the request holds personal data ({listed}); this key's privacy "
                          "policy blocks it", code="pii_detected",
                          details={"field": spans[0]["field"], "entities": spans})
        redacted = iter([state.pseudonyms.redact(text, ents)
                         for text, ents in zip(texts, found, strict=True)])
        call.inputs = _replace(call.inputs, lambda _: next(redacted))
        if spans:
            _note(call, "inputs", [{k: v for k, v in s.items() if k != "score"} | {"redacted": True}
                                   for s in spans])

    async def outputs(self, call: ResolvedCall, outputs: list[Any]) -> list[Any]:
        state = call.tags.get(_TAG)
        if not isinstance(state, CallPrivacy) or call.task.name not in TEXT_OUTPUT_TASKS:
            return outputs
        with fail_closed("PII handling failed"):
            return await asyncio.to_thread(self._outputs, call, state, outputs)

    def _outputs(self, call: ResolvedCall, state: CallPrivacy, outputs: list[Any]) -> list[Any]:
        mode = state.policy.mode
        if mode == "pseudonymize" and call.task.name != "speech-recognition":
            return [_map_text(out, state.pseudonyms.restore) for out in outputs]
        texts: list[str] = []
        _collect_outputs(outputs, texts)
        found = iter(self.analyzer.analyze(texts, state.policy.entities))
        if mode == "detect":
            spans = []
            for i, output in enumerate(outputs):
                spans += [{"field": f"outputs[{i}].text", **e.as_dict()} for e in next(found)]
                for _ in _segments(output):
                    next(found)
            if spans:
                _note(call, "outputs", spans)
            return outputs
        return [_redact_output(out, state.pseudonyms, found) for out in outputs]

    def stream(self, call: ResolvedCall, events: AsyncIterator[StreamEvent]
               ) -> AsyncIterator[StreamEvent]:
        state = call.tags.get(_TAG)
        if not isinstance(state, CallPrivacy) or state.policy.mode in {"off", "detect"}:
            return events
        if state.policy.mode == "pseudonymize":
            return _restored(events, StreamRestorer(state.pseudonyms))
        entities = state.policy.entities
        redactor = StreamRedactor(state.pseudonyms,
                                  lambda text: self.analyzer.analyze([text], entities)[0])
        return _redacted(events, redactor)


async def _restored(events: AsyncIterator[StreamEvent], restorer: StreamRestorer
                    ) -> AsyncIterator[StreamEvent]:
    async for event in events:
        with fail_closed("PII handling failed"):
            text = restorer.feed(event.text)
            if event.finish_reason is not None:
                text += restorer.flush()
        if text or event.finish_reason is not None:
            yield _with_text(event, text)


async def _redacted(events: AsyncIterator[StreamEvent], redactor: StreamRedactor
                    ) -> AsyncIterator[StreamEvent]:
    async for event in events:
        with fail_closed("PII handling failed"):
            if redactor.ready(event.text):
                text = await asyncio.to_thread(redactor.feed, event.text)
            else:
                text = redactor.feed(event.text)
            if event.finish_reason is not None:
                text += await asyncio.to_thread(redactor.flush)
        if text or event.finish_reason is not None:
            yield _with_text(event, text)


def _with_text(event: StreamEvent, text: str) -> StreamEvent:
    return StreamEvent(text, event.finish_reason, event.prompt_tokens, event.completion_tokens)


def _note(call: ResolvedCall, where: str, spans: list[dict[str, Any]]) -> None:
    notes = call.tags.setdefault("notes", {})
    state = call.tags[_TAG]
    privacy = notes.setdefault("privacy", {"policy": state.policy.mode})
    privacy[where] = spans


def _collect(value: Any, path: str, into: list[tuple[str, str]]) -> None:
    """Every string a person wrote in ``value``, with its field path (``inputs[0].messages[1]
    .content``)."""
    if isinstance(value, str):
        into.append((path, value))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, f"{path}[{i}]", into)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_TEXT_KEYS:
                _collect(item, f"{path}.{key}", into)


def _replace(value: Any, change: Callable[[str], str]) -> Any:
    """``value`` with its strings changed, in ``_collect``'s order."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_replace(item, change) for item in value]
    if isinstance(value, dict):
        return {key: item if key in _NOT_TEXT_KEYS else _replace(item, change)
                for key, item in value.items()}
    return value


def _map_text(output: Any, change: Callable[[str], str]) -> Any:
    if isinstance(output, dict) and isinstance(output.get("text"), str):
        return {**output, "text": change(output["text"])}
    return output


def _collect_outputs(outputs: list[Any], into: list[str]) -> None:
    """Per output: its ``text``, then each segment's text (transcripts)."""
    for output in outputs:
        into.append(output.get("text", "") if isinstance(output, dict) else "")
        for segment in _segments(output):
            into.append(segment.get("text", ""))


def _segments(output: Any) -> list[dict[str, Any]]:
    segments = output.get("segments") if isinstance(output, dict) else None
    return [s for s in segments if isinstance(s, dict)] if isinstance(segments, list) else []


def _redact_output(output: Any, pseudonyms: Pseudonyms, found: Any) -> Any:
    if not isinstance(output, dict):
        next(found)
        return output
    entities: list[Entity] = next(found)
    redacted = {**output, "text": pseudonyms.redact(str(output.get("text", "")), entities)}
    if "segments" in output:
        redacted["segments"] = [_redact_segment(s, pseudonyms, next(found))
                                for s in _segments(output)]
    return redacted


def _redact_segment(segment: dict[str, Any], pseudonyms: Pseudonyms, entities: list[Entity]
                    ) -> dict[str, Any]:
    text = str(segment.get("text", ""))
    out = {**segment, "text": pseudonyms.redact(text, entities)}
    words = segment.get("words")
    if isinstance(words, list) and entities:
        position, kept = 0, []
        for word in words:
            spoken = str(word.get("word", "")) if isinstance(word, dict) else ""
            start = text.find(spoken, position) if spoken else -1
            end = start + len(spoken) if start >= 0 else position
            hit = next((e for e in entities if start >= 0 and e.start < end and start < e.end),
                       None)
            kept.append({**word, "word": pseudonyms.placeholder(hit.type, text[hit.start:hit.end])}
                        if hit is not None else word)
            position = max(position, end)
        out["words"] = kept
    return out
