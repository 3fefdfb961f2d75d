"""Times as reviewers write and read them, converted to and from Unix ms (UTC)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_DURATION = re.compile(r"(\d{1,6})\s*([mhdw])")


def parse_expiry(text: str, now_ms: int) -> int:
    """`7d`, `12h`, `2w`, `30m` from now, or an ISO date/time (UTC unless it says)."""
    text = text.strip()
    match = _DURATION.fullmatch(text.lower())
    if match:
        return now_ms + int(match.group(1)) * _UNITS_MS[match.group(2)]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expiry {text!r}: write 7d, 12h, 2w or a date like 2026-04-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_past(text: str, now_ms: int) -> int:
    """A moment in the past: `3d` (ago) or an ISO date/time; empty = 0 (not given)."""
    text = text.strip()
    if not text:
        return 0
    if _DURATION.fullmatch(text.lower()):
        return 2 * now_ms - parse_expiry(text, now_ms)
    return parse_expiry(text, now_ms)


def show(ms: int) -> str:
    """`2026-03-10 12:00 UTC`, or an em dash for 0 (not set)."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(ms: int, now_ms: int) -> str:
    """How long ago (or `in …` for the future), coarse, for tables."""
    if not ms:
        return "—"
    delta = (now_ms - ms) // 1000
    future = delta < 0
    delta = abs(delta)
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if delta >= size:
            text = f"{delta // size}{unit}"
            break
    else:
        text = f"{delta}s"
    return f"in {text}" if future else f"{text} ago"


def attribute(value: str, key: str) -> str:
    """An event attribute for reading: `…_at` Unix-ms values as dates, the rest as given."""
    if key.endswith("_at") and value.isdigit() and len(value) >= 12:
        return show(int(value))
    return value
