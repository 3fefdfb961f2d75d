"""ListEvents' paging: filter by kind on the server, and always move past what was read.

A follower calls again with `next_id`. When a kinds filter skips entries, `next_id`
still moves past them, so a follower waiting for a rare kind never reads the same
entries twice and never loops on one page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Protocol

from sendgate.domain import LoggedEvent
from sendgate.guard import Deadline, Guard

# With a kinds filter, one call reads at most this many entries (bounded work per call);
# the follower goes on from next_id.
MAX_SCAN = 10_000
# Entries read per round trip while filtering.
SCAN_BATCH = 1000
# The largest stream id: nothing can follow it (and XRANGE refuses "(" before it).
LAST_ID = f"{2**64 - 1}-{2**64 - 1}"


class StreamReader(Protocol):
    async def after(self, after_id: str, count: int, budget_s: float) -> Sequence[LoggedEvent]:
        """Up to `count` entries after `after_id` ("" = from the oldest), oldest first."""
        ...


# Waits (at most the given seconds) until this sidecar's queued events are written.
Flush = Callable[[float], Awaitable[bool]]
_FLUSH_S = 0.5


class EventFeed:
    def __init__(self, reader: StreamReader, guard: Guard, flush: Flush | None = None) -> None:
        self._reader = reader
        self._guard = guard
        self._flush = flush

    async def page(
        self,
        after_id: str,
        limit: int,
        kinds: frozenset[str],
        time_remaining_s: float | None,
    ) -> tuple[list[LoggedEvent], str]:
        """Up to `limit` events after `after_id` of the given kinds (empty: all), and the
        id to continue from (`after_id` itself when nothing new was read)."""
        if after_id == LAST_ID:
            return [], after_id
        if self._flush is not None:
            # Read-your-writes: what this sidecar decided before the call is listed.
            wait = _FLUSH_S if time_remaining_s is None else min(_FLUSH_S, time_remaining_s / 2)
            await self._flush(wait)
        deadline = Deadline(time_remaining_s)
        found: list[LoggedEvent] = []
        cursor, scanned = after_id, 0
        while len(found) < limit and scanned < MAX_SCAN:
            count = min(SCAN_BATCH, MAX_SCAN - scanned) if kinds else limit - len(found)
            batch = await self._guard.run(deadline(), partial(self._reader.after, cursor, count))
            for entry in batch:
                cursor = entry.id
                if not kinds or entry.kind in kinds:
                    found.append(entry)
                    if len(found) == limit:
                        break  # entries after this one stay unread: next_id stops here
            scanned += len(batch)
            if len(batch) < count:  # the end of the stream
                break
        return found, cursor
