"""Admission checks: the rules a resolved call must pass before it reaches a replica.

Each rule is one class in the front door's ordered list. ``admit`` refuses by raising a domain
error (``Forbidden``, ``Overloaded``...); a refused call reaches no model and is not metered as
usage (it consumed nothing), only counted in the refusal metric. A check that reserves something
(tokens of a rate limit, money of a budget) returns a ``Ticket``, settled with the units the
call really used when it ends, however it ends. Quotas, budgets and PII policies plug in here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from aiaas.auth.principal import Scope
from aiaas.calls.call import ResolvedCall
from aiaas.tasks.units import Units


class Ticket(Protocol):
    def settle(self, units: Units, status: str) -> None:
        """The call ended with ``status`` ("ok" or an error code) having used ``units``."""


class AdmissionCheck(ABC):
    name: str = "check"
    """Names the check in the refusal metric."""

    @abstractmethod
    async def admit(self, call: ResolvedCall) -> Ticket | None:
        """Raise a domain error to refuse; return a ticket to settle, or ``None``."""


class ScopeCheck(AdmissionCheck):
    """The key must carry the ``predict`` scope (or ``admin``)."""

    name = "scope"

    async def admit(self, call: ResolvedCall) -> Ticket | None:
        call.principal.require(Scope.PREDICT)
        return None


def default_checks() -> list[AdmissionCheck]:
    return [ScopeCheck()]
