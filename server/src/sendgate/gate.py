"""The policy worker for chat servers: turns validated requests into decisions.

It owns the failure policy (via Guard: deadline budget, circuit breaker; here
fail-open or fail-closed) and domain metrics; it knows no gRPC and no Redis command.
The request path is: service (gRPC) → Gate → RedisStore (Redis Functions) → Redis.
The policy numbers travel inside the function library built from the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

from sendgate.config import Settings
from sendgate.domain import (
    AccountView,
    Decision,
    FeedbackKind,
    Quality,
    Reason,
    SendDecision,
    SendRequest,
    Usage,
)
from sendgate.errors import BackendError
from sendgate.events import EventSink
from sendgate.guard import Deadline, Guard
from sendgate.months import MonthCache, MonthTable, wall_ms
from sendgate.store import library
from sendgate.store.params import QuotaParams
from sendgate.store.redis_store import RedisStore

log = logging.getLogger("sendgate.gate")


class DecisionObserver(Protocol):
    """Receives what the gate decided (metrics)."""

    def decided(self, decision: SendDecision, *, recorded: bool) -> None: ...

    def degraded(self, mode: str) -> None: ...


class Gate:
    def __init__(
        self,
        settings: Settings,
        store: RedisStore,
        guard: Guard,
        events: EventSink,
        observer: DecisionObserver,
    ) -> None:
        self.params = QuotaParams.from_settings(settings)
        # The store calls the library holding these settings (loaded at prepare, or on
        # first use when the store was prepared before the gate existed).
        store.use_library(library.build(settings))
        self._store = store
        self._guard = guard
        self._events = events
        self._observer = observer
        self._months = MonthCache(ZoneInfo(settings.limits.timezone))
        self._fail_open = settings.failure_mode == "fail_open"
        self._mode = settings.failure_mode

    def table(self, at_ms: int) -> MonthTable:
        """The month table around `at_ms` (admin.py passes it to upsert_account, which no
        longer needs it: the library has the months built in)."""
        return self._months.table(at_ms or wall_ms())

    def _degrade(self, err: BackendError) -> SendDecision:
        self._observer.degraded(self._mode)
        log.warning("degraded decision", extra={"mode": self._mode, "error": str(err)})
        if self._fail_open:
            return SendDecision(Decision.ALLOW, degraded=True)
        return SendDecision(Decision.DENY, Reason.BACKEND_UNAVAILABLE, degraded=True)

    # ------------------------------------------------------------ decisions

    async def can_send(self, req: SendRequest, time_remaining_s: float | None) -> SendDecision:
        """Decide one message: count on the sender's slot, then note it on the recipient's
        (standalone Redis: both in one call)."""
        store = self._store
        if not store.single_call:
            return await self._can_send_split(req, time_remaining_s)
        # Guard.run's steps written out (budget, admit, failed, success): this runs for
        # every message, and the lambda and coroutine layer it needs cost more than them.
        guard = self._guard
        budget = guard.budget(time_remaining_s)
        try:
            guard.admit(budget)
            result = await store.send_local(req, budget)
        except BackendError as err:
            guard.failed(err)
            result = self._degrade(err)
            self._observer.decided(result, recorded=False)
            return result
        guard.breaker.success()
        self._observer.decided(result, recorded=not (req.dry_run or result.duplicate))
        if result.events:  # most decisions have none
            await self._events.emit(req.sender, req.at_ms, result.events)
        return result

    async def _can_send_split(
        self, req: SendRequest, time_remaining_s: float | None
    ) -> SendDecision:
        # Redis Cluster: the sender's and the recipient's slots are two calls.
        left = Deadline(time_remaining_s)
        try:
            result = await self._guard.run(time_remaining_s, lambda b: self._store.can_send(req, b))
        except BackendError as err:
            result = self._degrade(err)
            self._observer.decided(result, recorded=False)
            return result
        self._observer.decided(result, recorded=not (req.dry_run or result.duplicate))
        if result.decision is Decision.ALLOW and not req.dry_run:
            await self._note_delivery(req, left())
        await self._events.emit(req.sender, req.at_ms, result.events)
        return result

    async def _note_delivery(self, req: SendRequest, time_remaining_s: float | None) -> None:
        # The message is delivered: the recipient may now reply for free. A failure here
        # leaves the decision standing; a retry with the same message_id notes it again.
        try:
            await self._guard.run(
                time_remaining_s,
                lambda b: self._store.note_inbound(req.recipient, req.sender, req.at_ms, b),
            )
        except BackendError as err:
            log.warning("recipient note failed", extra={"error": str(err)})

    async def can_send_batch(
        self, reqs: Sequence[SendRequest], time_remaining_s: float | None
    ) -> list[SendDecision]:
        """Decide many messages: one call per sender deciding its messages in request
        order, the senders pipelined in one round trip (standalone Redis), or two on
        Redis Cluster (senders, then recipients: there a message in the batch does not
        see the recipient notes of earlier ones)."""
        left = Deadline(time_remaining_s)
        try:
            results = await self._guard.run(
                time_remaining_s,
                lambda b: self._store.can_send_many(reqs, b),
                items=len(reqs),
            )
        except BackendError as err:
            degraded = [self._degrade(err) for _ in reqs]
            for d in degraded:
                self._observer.decided(d, recorded=False)
            return degraded
        notes = []
        for req, res in zip(reqs, results, strict=True):
            self._observer.decided(res, recorded=not (req.dry_run or res.duplicate))
            if res.decision is Decision.ALLOW and not req.dry_run and not self._store.single_call:
                notes.append((req.recipient, req.sender, req.at_ms))
        if notes:
            try:
                await self._guard.run(
                    left(),
                    lambda b: self._store.note_inbound_many(notes, b),
                    items=len(notes),
                )
            except BackendError as err:
                log.warning("recipient notes failed", extra={"error": str(err)})
        for req, res in zip(reqs, results, strict=True):
            await self._events.emit(req.sender, req.at_ms, res.events)
        return results

    # ------------------------------------------------------------ other calls

    async def record_reply(
        self, replier: str, replied_to: str, at_ms: int, time_remaining_s: float | None
    ) -> int:
        """`replier` answered `replied_to`; returns how many messages stopped counting."""
        return await self._guard.run(
            time_remaining_s,
            lambda b: self._store.note_inbound(replied_to, replier, at_ms, b),
        )

    async def account(
        self, account: str, at_ms: int, time_remaining_s: float | None, *, evaluate: bool = False
    ) -> AccountView:
        view = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.account(account, at_ms, b, evaluate=evaluate),
        )
        await self._events.emit(account, at_ms, view.events)
        return view

    async def usage(self, account: str, at_ms: int, time_remaining_s: float | None) -> Usage:
        return (await self.account(account, at_ms, time_remaining_s)).usage

    async def feedback(
        self,
        reporter: str,
        subject: str,
        kind: FeedbackKind,
        at_ms: int,
        time_remaining_s: float | None,
    ) -> Quality:
        """A block or spam report; returns the subject's quality afterwards."""
        quality, _, events = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.feedback(subject, reporter, kind, at_ms, b),
        )
        await self._events.emit(subject, at_ms, events)
        return quality

    async def opt_in(
        self,
        business: str,
        user: str,
        opted_in: bool,
        at_ms: int,
        time_remaining_s: float | None,
    ) -> None:
        await self._guard.run(
            time_remaining_s, lambda b: self._store.opt_in(business, user, opted_in, at_ms, b)
        )
