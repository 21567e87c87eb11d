"""Output filters: what a call's outputs pass through on the way back to the caller.

Each filter sees the resolved call (with the ``tags`` its admission check left, such as a
request's PII placeholders) and either the whole outputs of a call or its stream of events.
A stream filter must not hold the whole stream: it may keep a little text back (a look-back)
and must pass the last event's counts and ``finish_reason`` on. An error a filter raises is
the call's error (the meter records it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from aiaas.calls.call import ResolvedCall
from aiaas.tasks.base import StreamEvent


class OutputFilter(ABC):
    @abstractmethod
    async def outputs(self, call: ResolvedCall, outputs: list[Any]) -> list[Any]:
        """The outputs the caller gets (``outputs`` unchanged when the filter does nothing)."""

    @abstractmethod
    def stream(self, call: ResolvedCall, events: AsyncIterator[StreamEvent]
               ) -> AsyncIterator[StreamEvent]:
        """The events the caller gets (``events`` itself when the filter does nothing)."""
