"""Enforcement events: appended to the bounded `sendgate:events` stream and counted.

Stream entry fields: `type`, `account`, `at` (unix ms), plus per type:
    limit_hit      limit (monthly_unreplied | username)     once per account, limit, month
    restricted     limit (business_tier)                    the business reached its tier limit
    unrestricted   -                                        a slot freed up again
    flag_raised    flag (quality_low)                       quality became LOW → FLAGGED
    flag_cleared   flag (quality_low)                       quality recovered → CONNECTED
    tier_changed   from, to (tier index; -1 = none), cause (new_business | upgrade | flagged)
    exception_requested   request_id, reason
    exception_reviewed    request_id, state (APPROVED | REJECTED), extra_allowance, expires_at
    account_banned        reason, identifiers (how many: the identifiers themselves never)
    account_unbanned      -
    ban_evasion           decision (REVIEW | DENY), matches (how many banned accounts)
    account_linked        banned_account, linked_account, shared_kinds (comma-separated
                          kinds, never values): LINKED_TO_BANNED raised (counted as
                          flag_raised{linked_to_banned}); once per account and ban
    account_unlinked      banned_account, cleared (1 when no cause is left): an unban lifted it
    review_cleared        -                                        ClearReview ended a review
    account_forgotten     forgotten (how many registration identifiers were erased)

Read back through SendGateAdmin.ListEvents (events_feed.py, events_stream.py): `type` is
the event's `kind`, `at` its `at_unix_ms`, the other fields its `attributes`.

Decisions never wait for their events: `emit` queues them and a background writer
appends each batch it finds in one pipeline, with its own Redis budget and outside the
circuit breaker, so a slow or failing stream can neither delay nor fail a decision nor
open the breaker. What a crash can lose is what is queued at that instant (the writer
drains every loop turn, so normally nothing older than one round trip); a failed write
is retried with backoff while the queue holds (bounded: past `queue_max` the oldest
events are dropped and counted). A write whose reply is lost may be appended twice
(events are at least once). Admin actions use a sink with `background=False`: they are
rare, and a reviewer's event should be in the stream when the call returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from sendgate import reviewer as who
from sendgate.domain import Event
from sendgate.errors import BackendError
from sendgate.months import wall_ms
from sendgate.store.redis_store import RedisStore

log = logging.getLogger("sendgate.events")

Item = tuple[str, int, Event]  # (account, at_ms, event)
_BATCH = 500  # events per pipeline
_BACKOFF_S = (0.05, 0.1, 0.2, 0.5, 1.0)


class EventObserver(Protocol):
    def event(self, event: Event) -> None: ...

    def events_dropped(self, count: int) -> None: ...


class EventSink:
    """Counts events at once and appends them to `sendgate:events`."""

    def __init__(
        self,
        store: RedisStore,
        observer: EventObserver,
        max_len: int,
        budget_s: float,
        *,
        background: bool = True,
        queue_max: int = 10_000,
        stamp_reviewer: bool = False,
    ) -> None:
        """`stamp_reviewer`: add the acting reviewer (sendgate.reviewer) to each event."""
        self._stamp = stamp_reviewer
        self._store = store
        self._observer = observer
        self._max_len = max_len
        self._budget_s = budget_s
        self._background = background
        self._queue: collections.deque[Item] = collections.deque()
        self._queue_max = queue_max
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def emit(self, account: str, at_ms: int, events: Iterable[Event]) -> None:
        """Count and append events (best effort: a Redis fault is logged, never raised)."""
        await self.emit_many(at_ms, ((account, e) for e in events))

    async def emit_many(self, at_ms: int, events: Iterable[tuple[str, Event]]) -> None:
        """`emit` for events of several accounts (a ban linking thousands)."""
        items = [(account, at_ms or wall_ms(), e) for account, e in events]
        if self._stamp and (name := who.current.get()):
            items = [(a, at, Event(e.type, (*e.fields, ("reviewer", name)))) for a, at, e in items]
        if not items:
            return
        for _, _, e in items:
            self._observer.event(e)
        if not self._background:
            try:
                await self._store.append_events(items, self._max_len, self._budget_s)
            except BackendError as err:
                log.error("events not written", extra={"error": str(err), "count": len(items)})
            return
        self._queue.extend(items)
        if (over := len(self._queue) - self._queue_max) > 0:
            for _ in range(over):
                self._queue.popleft()
            self._observer.events_dropped(over)
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._write_loop(), name="sendgate-events")

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every queued event is written (or `timeout_s`); True when done."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self, timeout_s: float = 1.0) -> None:
        """Write what is queued (within `timeout_s`), then stop the writer."""
        if self._task is None:
            return
        if not await self.flush(timeout_s):
            log.error("events not written at shutdown", extra={"count": len(self._queue)})
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _write_loop(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
                try:
                    await self._store.append_events(batch, self._max_len, self._budget_s)
                except BackendError as err:
                    failures += 1
                    self._queue.extendleft(reversed(batch))  # first in line again
                    log.error("events not written yet", extra={"error": str(err),
                              "count": len(self._queue), "attempt": failures})  # fmt: skip
                    await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S)) - 1])
                    continue
                failures = 0
            self._idle.set()
