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

Read back through SendGateAdmin.ListEvents (events_feed.py, events_stream.py): `type` is
the event's `kind`, `at` its `at_unix_ms`, the other fields its `attributes`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from sendgate.domain import Event
from sendgate.errors import BackendError
from sendgate.guard import Guard
from sendgate.months import wall_ms
from sendgate.store.redis_store import RedisStore

log = logging.getLogger("sendgate.events")


class EventObserver(Protocol):
    def event(self, event: Event) -> None: ...


class EventSink:
    def __init__(
        self, store: RedisStore, guard: Guard, observer: EventObserver, max_len: int
    ) -> None:
        self._store = store
        self._guard = guard
        self._observer = observer
        self._max_len = max_len

    async def emit(self, account: str, at_ms: int, events: Iterable[Event]) -> None:
        """Append events (best effort: a Redis fault is logged and counted, never raised)."""
        items = [(account, at_ms or wall_ms(), e) for e in events]
        if not items:
            return
        for _, _, e in items:
            self._observer.event(e)
        try:
            await self._guard.run(
                None, lambda b: self._store.append_events(items, self._max_len, b)
            )
        except BackendError as err:
            log.error("events not written", extra={"error": str(err), "count": len(items)})
