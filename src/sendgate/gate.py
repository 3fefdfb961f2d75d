"""The policy worker: turns validated requests into decisions.

It owns the failure policy (deadline budget, circuit breaker, fail-open or
fail-closed) and domain metrics; it knows no gRPC and no Redis command. The
request path is: service (gRPC) → Gate → RedisStore (Lua) → Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from sendgate.breaker import CircuitBreaker
from sendgate.config import Settings
from sendgate.domain import (
    LIMIT_LABELS,
    Decision,
    Reason,
    SendDecision,
    SendRequest,
    Usage,
)
from sendgate.errors import BackendError, BackendUnavailable
from sendgate.months import MonthCache, MonthTable
from sendgate.store.redis_store import QuotaParams, RedisStore

log = logging.getLogger("sendgate.gate")

# Leave this much of the caller's deadline for the answer to travel back.
_DEADLINE_MARGIN_S = 0.005


class DecisionObserver(Protocol):
    """Receives what the gate decided (metrics)."""

    def decided(self, decision: SendDecision, *, recorded: bool) -> None: ...

    def degraded(self, mode: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall-clock milliseconds; only used to pick month tables, never to decide."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class Gate:
    def __init__(
        self,
        settings: Settings,
        store: RedisStore,
        observer: DecisionObserver,
        clock: Clock | None = None,
    ) -> None:
        lim = settings.limits
        self._params = QuotaParams(
            personal_monthly=lim.personal_monthly,
            business_monthly=lim.business_monthly,
            username_monthly=lim.username_monthly,
            warn_bp=round(lim.warn_ratio * 10_000),
            window_ms=lim.conversation_window_days * 86_400_000,
            idempotency_ms=settings.idempotency_hours * 3_600_000,
            enforce=settings.enforce,
        )
        self._store = store
        self._observer = observer
        self._clock = clock or Clock()
        self._months = MonthCache(ZoneInfo(lim.timezone))
        self._timeout_s = settings.redis.timeout_ms / 1000
        self._fail_open = settings.failure_mode == "fail_open"
        self._mode = settings.failure_mode
        self.breaker = CircuitBreaker(
            settings.redis.breaker_failures, settings.redis.breaker_open_ms / 1000
        )

    # ------------------------------------------------------------ plumbing

    def _table(self, at_ms: int) -> MonthTable:
        return self._months.table(at_ms or self._clock.now_ms())

    def _budget(self, time_remaining_s: float | None) -> float:
        """Seconds Redis may take: the configured budget, cut to the caller's deadline."""
        if time_remaining_s is None:
            return self._timeout_s
        return min(self._timeout_s, time_remaining_s - _DEADLINE_MARGIN_S)

    def _check_breaker(self, budget_s: float) -> None:
        if budget_s <= 0:
            raise BackendError("deadline", "caller's deadline leaves no time for redis")
        if not self.breaker.allow():
            raise BackendUnavailable()

    def _degrade(self, err: BackendError) -> SendDecision:
        self._observer.degraded(self._mode)
        log.warning("degraded decision", extra={"mode": self._mode, "error": str(err)})
        if self._fail_open:
            return SendDecision(Decision.ALLOW, degraded=True)
        return SendDecision(Decision.DENY, Reason.BACKEND_UNAVAILABLE, degraded=True)

    def _failed(self, err: BackendError) -> None:
        if not isinstance(err, BackendUnavailable) and err.kind != "deadline":
            self.breaker.failure()

    # ------------------------------------------------------------ decisions

    async def can_send(self, req: SendRequest, time_remaining_s: float | None) -> SendDecision:
        """Decide one message: count on the sender's slot, then note it on the recipient's."""
        budget = self._budget(time_remaining_s)
        try:
            self._check_breaker(budget)
            result = await self._store.can_send(req, self._params, self._table(req.at_ms), budget)
            self.breaker.success()
        except BackendError as err:
            self._failed(err)
            result = self._degrade(err)
            self._observer.decided(result, recorded=False)
            return result
        self._observer.decided(result, recorded=not (req.dry_run or result.duplicate))
        if result.decision is Decision.ALLOW and not req.dry_run:
            await self._note_delivery(req, budget)
        return result

    async def _note_delivery(self, req: SendRequest, budget: float) -> None:
        # The message is delivered: the recipient may now reply for free. A failure here
        # leaves the decision standing; a retry with the same message_id notes it again.
        try:
            await self._store.note_inbound(
                req.recipient, req.sender, req.at_ms, self._params.window_ms,
                self._table(req.at_ms), budget,
            )  # fmt: skip
        except BackendError as err:
            self._failed(err)
            log.warning("recipient note failed", extra={"error": str(err)})

    async def can_send_batch(
        self, reqs: Sequence[SendRequest], time_remaining_s: float | None
    ) -> list[SendDecision]:
        """Decide many messages with two pipelined round trips (senders, then recipients).

        Messages of one batch are decided as if sent at the same instant: a message
        in the batch does not see the recipient notes of earlier ones.
        """
        budget = self._budget(time_remaining_s)
        try:
            self._check_breaker(budget)
            items = [(r, self._table(r.at_ms)) for r in reqs]
            results = await self._store.can_send_many(items, self._params, budget)
            self.breaker.success()
        except BackendError as err:
            self._failed(err)
            degraded = [self._degrade(err) for _ in reqs]
            for d in degraded:
                self._observer.decided(d, recorded=False)
            return degraded
        notes = []
        for req, res in zip(reqs, results, strict=True):
            self._observer.decided(res, recorded=not (req.dry_run or res.duplicate))
            if res.decision is Decision.ALLOW and not req.dry_run:
                notes.append((req.recipient, req.sender, req.at_ms, self._table(req.at_ms)))
        try:
            await self._store.note_inbound_many(notes, self._params.window_ms, budget)
        except BackendError as err:
            self._failed(err)
            log.warning("recipient notes failed", extra={"error": str(err)})
        return results

    # ------------------------------------------------------------ other calls

    async def record_reply(
        self, replier: str, replied_to: str, at_ms: int, time_remaining_s: float | None
    ) -> int:
        """`replier` answered `replied_to`; returns how many messages stopped counting."""
        budget = self._budget(time_remaining_s)
        try:
            self._check_breaker(budget)
            refunded = await self._store.note_inbound(
                replied_to, replier, at_ms, self._params.window_ms, self._table(at_ms), budget
            )
            self.breaker.success()
        except BackendError as err:
            self._failed(err)
            raise
        return refunded

    async def usage(self, account: str, at_ms: int, time_remaining_s: float | None) -> Usage:
        budget = self._budget(time_remaining_s)
        try:
            self._check_breaker(budget)
            result = await self._store.usage(
                account, at_ms, self._params, self._table(at_ms), budget
            )
            self.breaker.success()
        except BackendError as err:
            self._failed(err)
            raise
        return result


def limit_label(reason: Reason) -> str | None:
    """The `limit` label of sendgate_limit_hits_total for a reason, if it is a limit."""
    return LIMIT_LABELS.get(reason)
