"""Calendar-month boundaries in the configured time zone, for the Lua scripts.

Scripts take the time from Redis `TIME` (one clock for every sidecar), so the
sidecar cannot know the month in advance. It passes a small table of month
boundaries around its own clock instead; the script picks the month that holds
Redis time. Three months around the local clock cover any realistic skew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo


def wall_ms() -> int:
    """The sidecar's wall clock in ms: picks month tables and stamps events, never decides."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class MonthTable:
    """Months [starts[i], starts[i + 1]) labelled labels[i], as script arguments."""

    starts: tuple[int, int, int, int]
    labels: tuple[str, str, str]

    def args(self) -> tuple[bytes, ...]:
        """Pre-encoded once per table: redis-py passes bytes through untouched."""
        return _encoded(self)

    def covers(self, at_ms: int) -> bool:
        return self.starts[1] <= at_ms < self.starts[2]


@cache
def _encoded(t: MonthTable) -> tuple[bytes, ...]:
    return tuple(str(v).encode() for v in (*t.starts, *t.labels))


def _shift(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _start(year: int, month: int, delta: int, tz: ZoneInfo) -> int:
    yy, mm = _shift(year, month, delta)
    return int(datetime(yy, mm, 1, tzinfo=tz).timestamp() * 1000)


def _label(year: int, month: int, delta: int) -> str:
    yy, mm = _shift(year, month, delta)
    return f"{yy:04d}{mm:02d}"


def month_table(at_ms: int, tz: ZoneInfo) -> MonthTable:
    """The previous, current and next month around `at_ms` in `tz`."""
    local = datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(tz)
    y, m = local.year, local.month
    return MonthTable(
        starts=(
            _start(y, m, -1, tz),
            _start(y, m, 0, tz),
            _start(y, m, 1, tz),
            _start(y, m, 2, tz),
        ),
        labels=(_label(y, m, -1), _label(y, m, 0), _label(y, m, 1)),
    )


class MonthCache:
    """Reuses one table while the clock stays inside its current month."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._table: MonthTable | None = None

    def table(self, at_ms: int) -> MonthTable:
        t = self._table
        if t is not None and t.covers(at_ms):
            return t
        t = month_table(at_ms, self._tz)
        if self._table is None or at_ms >= self._table.starts[1]:
            self._table = t  # cache the newest month only; replayed old times recompute
        return t
