"""The console's window on the enforcement stream: recent events, read through ListEvents.

One tail per console: pages share it, so a busy queue page costs one ListEvents round
per `refresh_s` however many reviewers look. It starts `lookback` back (stream ids
begin with Redis's time in ms), reads at most `max_pages` pages per refresh, and keeps
the newest `kept` events.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable

from sendgate.console.backend import AdminBackend, NotAvailable
from sendgate.console.models import EventInfo

PAGE = 1000


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class EventTail:
    def __init__(
        self,
        backend: AdminBackend,
        kept: int,
        lookback_ms: int,
        refresh_s: float,
        max_pages: int = 50,
        clock: Callable[[], int] = _wall_ms,
    ) -> None:
        self._backend = backend
        self._events: deque[EventInfo] = deque(maxlen=kept)
        self._lookback_ms = lookback_ms
        self._refresh_s = refresh_s
        self._max_pages = max_pages
        self._clock = clock
        self._cursor: str | None = None
        self._last_refresh = float("-inf")
        self._lock = asyncio.Lock()
        self.available = True
        self.unavailable_reason = ""

    async def refresh(self, reviewer: str) -> None:
        """Read what was appended since the last refresh (NotAvailable leaves it empty)."""
        async with self._lock:
            if time.monotonic() - self._last_refresh < self._refresh_s:
                return
            if self._cursor is None:
                self._cursor = f"{max(self._clock() - self._lookback_ms, 0)}-0"
            try:
                for _ in range(self._max_pages):
                    page, next_id = await self._backend.events(self._cursor, PAGE, (), reviewer)
                    self._events.extend(page)
                    self._cursor = next_id or self._cursor
                    if len(page) < PAGE:
                        break
            except NotAvailable as err:
                self.available, self.unavailable_reason = False, str(err)
            else:
                self.available = True
            self._last_refresh = time.monotonic()

    def newest_first(self) -> Iterable[EventInfo]:
        return reversed(self._events)

    def oldest_first(self) -> Iterable[EventInfo]:
        return iter(self._events)

    @property
    def last_id(self) -> str:
        return self._events[-1].id if self._events else (self._cursor or "")


def select(
    events: Iterable[EventInfo],
    kinds: frozenset[str] = frozenset(),
    account: str = "",
    after_id: str = "",
    limit: int = 200,
) -> list[EventInfo]:
    """Up to `limit` events, in the order given, of these kinds, about this account."""
    out: list[EventInfo] = []
    after = id_key(after_id) if after_id else None
    for e in events:
        if kinds and e.kind not in kinds:
            continue
        if account and e.account != account:
            continue
        if after is not None and id_key(e.id) <= after:
            continue
        out.append(e)
        if len(out) >= limit:
            break
    return out


def id_key(entry_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (`ms-seq`); anything else sorts first."""
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return (-1, -1)
