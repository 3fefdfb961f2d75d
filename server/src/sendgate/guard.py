"""The failure policy every Redis call goes through: deadline budget and circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sendgate.breaker import CircuitBreaker
from sendgate.errors import BackendError, BackendUnavailable

T = TypeVar("T")


def deadline_margin(time_remaining_s: float) -> float:
    """The part of the caller's deadline kept for answering after Redis gave up: a tenth,
    at least 5 ms and at most 50 ms. A busy event loop can delay the answer by more than
    a fixed few milliseconds, and a late answer is a DEADLINE_EXCEEDED, not a decision."""
    return min(0.05, max(0.005, time_remaining_s / 10))


class Guard:
    def __init__(self, timeout_s: float, breaker: CircuitBreaker) -> None:
        self.timeout_s = timeout_s
        self.breaker = breaker

    def budget(self, time_remaining_s: float | None, items: int = 1) -> float:
        """Seconds Redis may take: the configured budget, grown by a tenth of it per extra
        item of a pipeline (a busy Redis runs a 100-message batch in far more than one
        call's budget), cut to the caller's deadline."""
        own = self.timeout_s * (1 + max(0, items - 1) / 10)
        if time_remaining_s is None:
            return own
        return min(own, time_remaining_s - deadline_margin(time_remaining_s))

    def admit(self, budget_s: float) -> None:
        """Raise instead of calling Redis when there is no time or the breaker is open."""
        if budget_s <= 0:
            raise BackendError("deadline", "caller's deadline leaves no time for redis")
        if not self.breaker.allow():
            raise BackendUnavailable()

    def failed(self, err: BackendError) -> None:
        if not isinstance(err, BackendUnavailable) and err.kind != "deadline":
            self.breaker.failure()

    async def run(
        self,
        time_remaining_s: float | None,
        call: Callable[[float], Awaitable[T]],
        items: int = 1,
    ) -> T:
        """Run `call(budget)` under the policy (the budget sized for a pipeline of `items`);
        BackendError propagates to the caller."""
        budget = self.budget(time_remaining_s, items)
        try:
            self.admit(budget)
            result = await call(budget)
        except BackendError as err:
            self.failed(err)
            raise
        self.breaker.success()
        return result


class Deadline:
    """The caller's deadline as a clock: what is left of it now (None: no deadline)."""

    def __init__(self, time_remaining_s: float | None) -> None:
        self._at = None if time_remaining_s is None else time.monotonic() + time_remaining_s

    def __call__(self) -> float | None:
        return None if self._at is None else self._at - time.monotonic()
