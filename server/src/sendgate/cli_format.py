"""Text and JSON lines of the `sendgate` client commands (pure: values in, text out)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

from sendgate.client import CanSendResult, Event, LimitWarning, Reason, Usage

_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def duration(ms: int) -> str:
    """`12d 3h`, `5m 10s`, `42s`: the two largest units, rounded down; `<1s` below."""
    parts = []
    for name, size in _UNITS:
        if ms >= size:
            parts.append(f"{ms // size}{name}")
            ms %= size
        elif parts:
            break
        if len(parts) == 2:
            break
    return " ".join(parts) or "<1s"


def when(unix_ms: int) -> str:
    return datetime.fromtimestamp(unix_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def as_json(value: object) -> str:
    """One JSON object; enums are their names, times stay numbers (Unix ms)."""
    assert dataclasses.is_dataclass(value) and not isinstance(value, type)
    return json.dumps(dataclasses.asdict(value))


def usage_lines(u: Usage) -> list[str]:
    lines = [
        f"used {u.used} of {u.limit} ({u.remaining} left), resets {when(u.resets_at)}",
        f"username: {u.username_used} of {u.username_limit}",
    ]
    if u.is_business:  # personal accounts have no tier, quality or reach
        lines.append(
            f"business: tier limit {u.tier_limit or 'unlimited'}, {u.unique_users_24h} users"
            f" in 24 h, quality {u.quality}, status {u.status}"
        )
    if u.new_conversations_limit is not None:
        lines.append(
            f"new conversations today: {u.new_conversations_today} of {u.new_conversations_limit}"
        )
    if u.flags:
        lines.append("flags: " + ", ".join(u.flags))
    return lines


def decision_line(r: CanSendResult, dry_run: bool) -> str:
    words = [str(r.decision)]
    if r.reason is not Reason.REASON_UNSPECIFIED:
        words.append(str(r.reason))
    if dry_run:
        words.append("would count" if r.counted else "would not count")
    else:
        words.append("counted" if r.counted else "not counted")
    if r.duplicate:
        words.append("duplicate (the original answer; nothing counted twice)")
    if r.degraded:
        words.append("degraded (decided without Redis)")
    if r.warning is not LimitWarning.NONE:
        words.append(f"warning {r.warning}")
    if r.retry_after_ms:
        words.append(f"retry after {duration(r.retry_after_ms)}")
    return ", ".join(words)


def event_line(e: Event) -> str:
    rest = " ".join(f"{k}={v}" for k, v in sorted(e.attributes.items()))
    return f"{when(e.at_unix_ms)} {e.kind:<20} {e.account or '-'} {rest}".rstrip()
