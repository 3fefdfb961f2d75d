"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from sendgate.console.models import EventInfo

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    colour: str


# What a reviewer reads off the chart, one colour each (the CSS legend uses the same).
SERIES = (
    Series("monthly_unreplied", "Monthly limit hit", "#e8a33d"),
    Series("username", "Username limit hit", "#c77d1a"),
    Series("business_tier", "Tier limit reached", "#5b8bd9"),
    Series("flag_raised", "Flag raised", "#d9534f"),
    Series("ban_evasion", "Ban evasion", "#a4262c"),
    Series("account_linked", "Linked to a banned account", "#7a3fb0"),
    Series("account_banned", "Banned", "#3b3f45"),
)
_BY_KEY = {s.key: s for s in SERIES}


def series_of(event: EventInfo) -> str | None:
    """Which series an event counts in (None: not charted)."""
    if event.kind == "limit_hit":
        key = event.attributes.get("limit", "")
        return key if key in _BY_KEY else "monthly_unreplied"
    if event.kind == "restricted":
        return "business_tier"
    return event.kind if event.kind in _BY_KEY else None


def hourly(events: Iterable[EventInfo], now_ms: int, hours: int) -> list[dict[str, int]]:
    """Counts per series for each of the last `hours` hours, oldest first."""
    start = (now_ms // HOUR_MS + 1 - hours) * HOUR_MS
    buckets: list[dict[str, int]] = [{} for _ in range(hours)]
    for e in events:
        key = series_of(e)
        at = e.at_unix_ms or e.stream_ms
        if key is None or not start <= at < start + hours * HOUR_MS:
            continue
        bucket = buckets[(at - start) // HOUR_MS]
        bucket[key] = bucket.get(key, 0) + 1
    return buckets


def _nice_max(value: int) -> int:
    """A round top for the axis, split in four equal whole steps (1, 2, 5 x 10^k each)."""
    quarter = max(math.ceil(value / 4), 1)
    magnitude: int = 10 ** int(math.log10(quarter))
    for step in (1, 2, 5, 10):
        if quarter <= step * magnitude:
            return 4 * step * magnitude
    return 4 * quarter


def stacked_bars(
    buckets: list[dict[str, int]], now_ms: int, title: str, width: int = 1000, height: int = 220
) -> str:
    """A stacked bar per hour, hour labels in UTC, an accessible title."""
    left, right, top, bottom = 40, 8, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((sum(b.values()) for b in buckets), default=0))
    n = max(len(buckets), 1)
    slot = plot_w / n
    bar = max(slot * 0.7, 1.0)
    first_hour = now_ms // HOUR_MS + 1 - n
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):
        value = peak * i // 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{value}</text>'
        )
    for i, bucket in enumerate(buckets):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for s in SERIES:
            count = bucket.get(s.key, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{escape(s.label)}: {count}</title></rect>'
            )
        hour = (first_hour + i) % 24
        if n <= 12 or i % 2 == n % 2:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" class="tick" '
                f'text-anchor="middle">{hour:02d}h</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
