"""``RateLimitCheck``: the front door's admission check for rate and concurrency limits.

For a call it finds the limits that apply (the key's, the tenant's for that model, the
tenant's: ``Directory.applicable``; none set costs three dict lookups and nothing else), then
takes, in order, a concurrency slot, one request, and the units the call may use: its items,
its tokens (prompt + ``max_tokens`` for a generation, bounded as ``billing.cost.most_units``
bounds them) and its audio seconds (as their headers declare), all in one ``Counters.take``
(at most one Redis round trip, none from a lease). A limit that is reached refuses with
``RateLimited`` (429, Retry-After) and the call keeps nothing it took, its request included.
The ticket settles the units to what the call really used and gives the slot back.

When the store (Redis) cannot be reached, a limited call is refused with 503
``limits_unavailable`` (or admitted unlimited with ``fail_open``), logged and counted; never
counted in a per-process fallback, which would multiply the limit by the number of processes.

What the answer should tell the client (``x-ratelimit-*``) is left in ``rate_state``, which the
HTTP layer sets per request and turns into headers; no HTTP here.
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from limits.errors import StorageError

from aiaas.billing.cost import most_units, recorded
from aiaas.calls.admission import AdmissionCheck, Ticket
from aiaas.calls.call import NOT_GIVEN, ResolvedCall
from aiaas.errors import Invalid, RateLimited, Unavailable
from aiaas.limits.counters import Counters, Refused, Taken, Want
from aiaas.metrics import Metrics
from aiaas.tasks.base import Limits
from aiaas.tasks.units import Units
from aiaas.tenants.directory import Directory, Subject

log = logging.getLogger("aiaas.limits")
UNITS = (("tokens", "tokens_per_minute"), ("items", "items_per_minute"),
         ("audio_seconds", "audio_seconds_per_minute"))
GIVE_BACK_MARGIN_S = 0.25
"""Unused units are given back only this long before their window stops being current."""
LOG_EVERY_S = 10.0
"""Store errors are logged at most this often (each is counted in the metric)."""


@dataclass(frozen=True, slots=True)
class Window:
    """One limit as the answer reports it: its value, what is left, seconds until more is."""

    limit: int
    remaining: int
    reset_s: float


@dataclass(slots=True)
class RateState:
    requests: Window | None = None
    tokens: Window | None = None


rate_state: ContextVar[RateState | None] = ContextVar("aiaas_rate_state", default=None)
"""Set by the HTTP layer to a fresh ``RateState`` per request; the check fills it in."""


@dataclass(slots=True)
class LimitTicket:
    check: RateLimitCheck
    leased: bool = False
    slots: list[str] = field(default_factory=list)
    taken: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    """(subject, unit) -> (units reserved at admission, when their window stops being the
    current one, on ``time.time()``'s clock)."""

    def settle(self, units: Units, status: str) -> None:
        used = recorded(units, status)
        real = {"tokens": used.total_tokens, "items": used.items,
                "audio_seconds": math.ceil(used.audio_seconds)}
        now = time.time()
        deltas = []
        for (subject, unit), (reserved, window_ends) in self.taken.items():
            delta = real.get(unit, 0) - reserved
            if delta > 0 or (delta < 0 and now < window_ends - GIVE_BACK_MARGIN_S):
                deltas.append((subject, unit, delta))
        # owed to the next admission (or a flush shortly after): no task, no wait
        self.check.counters.owe(self.slots, deltas, leased=self.leased)
        self.slots, self.taken = [], {}


class RateLimitCheck(AdmissionCheck):
    name = "rate_limit"

    def __init__(self, directory: Directory, counters: Counters, metrics: Metrics,
                 limits: Limits, *, fail_open: bool = False) -> None:
        self.directory = directory
        self.counters = counters
        self.metrics = metrics
        self.limits = limits
        self.fail_open = fail_open
        self.last_error: str | None = None
        self._logged_at = 0.0
        counters.on_settle_error = self._settle_failed

    async def admit(self, call: ResolvedCall) -> Ticket | None:
        await self.directory.fresh()
        principal = call.principal
        subjects = self.directory.applicable(principal.tenant, principal.key_id,
                                             call.version.model)
        if not subjects:
            return None
        wants = self._wants(call, subjects, await self._need(call, subjects))
        try:
            taken = await self.counters.take(wants)
        except StorageError as exc:
            return self._store_failed(exc)
        self.last_error = None
        state = rate_state.get()
        if taken.refused is not None:
            refused = taken.refused
            if state is not None and refused.kind in ("requests", "tokens"):
                setattr(state, refused.kind, Window(refused.limit, refused.remaining,
                                                    refused.wait_s))
            raise self._refusal(call, subjects, refused)
        ticket = LimitTicket(self, taken.leased)
        started = time.time()
        for want in wants:
            if want.concurrent is not None:
                ticket.slots.append(want.subject)
            for unit, _, amount in want.units:
                window = taken.units.get((want.subject, unit))
                ticket.taken[(want.subject, unit)] = (
                    amount, 0.0 if window is None else started + window.ends_in_s)
        if state is not None:
            _report(wants, taken, state)
        return ticket

    async def _need(self, call: ResolvedCall, subjects: list[Subject]) -> dict[str, int]:
        """The units this call may use, for the unit limits that apply."""
        wanted = {unit for unit, name in UNITS
                  if any(getattr(s.limits, name) is not None for s in subjects)}
        if not wanted:
            return {}
        need: dict[str, int] = {}
        if "items" in wanted:
            inputs = call.inputs
            need["items"] = 0 if inputs is NOT_GIVEN else (
                len(inputs) if isinstance(inputs, list) else 1)
        if wanted & {"tokens", "audio_seconds"}:
            most = await most_units(call, self.limits)
            need["tokens"] = most.total_tokens
            need["audio_seconds"] = math.ceil(most.audio_seconds)
        return {unit: amount for unit, amount in need.items() if unit in wanted}

    @staticmethod
    def _wants(call: ResolvedCall, subjects: list[Subject], need: dict[str, int]) -> list[Want]:
        """What the call takes from each subject; a call needing more units than a whole
        minute's limit is a 4xx, never a 429 it could retry."""
        wants = []
        for subject in subjects:
            limits = subject.limits
            units = []
            for unit, name in UNITS:
                limit, amount = getattr(limits, name), need.get(unit, 0)
                if limit is None or not amount:
                    continue
                if amount > limit:
                    raise _too_large(call, name, amount, limit)
                units.append((unit, limit, amount))
            wants.append(Want(subject.id, limits.concurrent_requests,
                              limits.requests_per_minute, tuple(units)))
        return wants

    def _refusal(self, call: ResolvedCall, subjects: list[Subject],
                 refused: Refused) -> RateLimited:
        name = "concurrent_requests" if refused.kind == "concurrent" else (
            f"{refused.kind}_per_minute")
        scope = next(s.scope for s in subjects if s.id == refused.subject)
        self.metrics.rate_limited.labels(call.principal.tenant,
                                         name.removesuffix("_per_minute")).inc()
        retry = max(1, math.ceil(refused.wait_s))
        who = {"key": f"key {call.principal.key_id}", "tenant": f"tenant {call.principal.tenant}",
               "model": f"tenant {call.principal.tenant}'s use of {call.version.model}"}
        what = name.replace("_", " ") if name == "concurrent_requests" else (
            name.replace("_per_minute", "").replace("_", " ") + " per minute")
        return RateLimited(f"rate limit reached: {who[scope]} allows {refused.limit} {what}; "
                           f"retry in {retry} s", retry_after_s=retry,
                           details={"limit": name, "scope": scope, "value": refused.limit,
                                    "retry_after_s": retry})

    def _store_failed(self, exc: StorageError) -> Ticket | None:
        cause = exc.storage_error
        self.last_error = f"{type(cause).__name__}: {cause}"[:200]
        outcome = "admitted" if self.fail_open else "refused"
        self.metrics.limiter_store_errors.labels(outcome).inc()
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.error("rate-limit store unreachable (%s); calls of limited tenants are %s",
                      self.last_error, "admitted without limits (fail open)" if self.fail_open
                      else "refused with 503 limits_unavailable")
        if self.fail_open:
            return None
        raise Unavailable("the rate-limit store cannot be reached; try again shortly",
                          code="limits_unavailable", retry_after_s=2)

    def _settle_failed(self, exc: StorageError) -> None:
        self.metrics.limiter_store_errors.labels("settle").inc()
        self.last_error = f"{type(exc.storage_error).__name__}: {exc.storage_error}"[:200]

    async def health(self) -> str:
        """For ``/readyz``: where counters live and whether the store answers."""
        if not self.counters.shared:
            return "memory"
        if await self.counters.check():
            return "ok"
        reaction = "admitted unlimited" if self.fail_open else "refused (503)"
        return f"unreachable: limited calls are {reaction}"

    async def close(self) -> None:
        await self.counters.close()


def _report(wants: list[Want], taken: Taken, state: RateState) -> None:
    """The tightest request and token limits of the call, for the answer's headers."""
    requests = [Window(w.requests, *taken.requests[w.subject])
                for w in wants if w.requests is not None]
    tokens = [Window(limit, window.remaining, window.wait_s) for w in wants
              for unit, limit, _ in w.units
              if unit == "tokens" and (window := taken.units.get((w.subject, unit)))]
    for kind, windows in (("requests", requests), ("tokens", tokens)):
        if windows:
            setattr(state, kind, min(windows, key=lambda w: (w.remaining, -w.reset_s)))


def _too_large(call: ResolvedCall, name: str, amount: int, limit: int) -> Invalid:
    """A call that needs more than a whole minute's limit can never be admitted: a 4xx."""
    generates = call.task.streaming or call.task.name == "text2text"
    field = "parameters.max_tokens" if name == "tokens_per_minute" and generates else "inputs"
    return Invalid.at(field, f"this call may use {amount} {name.removesuffix('_per_minute')}, "
                             f"more than the {name} limit ({limit}) allows at once",
                      limit=name)
