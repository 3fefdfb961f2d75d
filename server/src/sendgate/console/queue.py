"""The review queue's flagged accounts, derived from the enforcement stream (pure).

An account enters the queue when an event says a reviewer should look (a `REVIEW`
answer at registration, a raised flag the queue watches, a link to a banned account)
and leaves it when an event settles that (a ban, a cleared review, the flag cleared).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sendgate.console.models import EventInfo

# Reasons a reviewer should look, as the queue names them (Usage flag names).
WATCHED_FLAGS = ("BAN_EVASION", "LINKED_TO_BANNED", "BULK_SUSPECTED", "QUALITY_LOW")
REVIEW = "REVIEW"
REASONS = (REVIEW, *WATCHED_FLAGS)
# Event kinds after which nothing is left to review.
_SETTLED = frozenset({"account_banned", "review_cleared", "account_forgotten"})


@dataclass
class QueueItem:
    account: str
    reasons: set[str] = field(default_factory=set)
    last_at: int = 0
    last_id: str = ""


def _reason(event: EventInfo) -> str | None:
    if event.kind == "flag_raised":
        flag = event.attributes.get("flag", "").upper()
        return flag if flag in WATCHED_FLAGS else None
    if event.kind == "ban_evasion" and event.attributes.get("decision") == REVIEW:
        return REVIEW
    if event.kind == "account_linked":
        return "LINKED_TO_BANNED"
    return None


def _linked_account(event: EventInfo) -> str:
    """issue 13's account_linked event is about the banned account; it names the linked one."""
    for key in ("linked_account", "linked", "account_linked"):
        if event.attributes.get(key):
            return event.attributes[key]
    return event.account


def build(events_oldest_first: Iterable[EventInfo]) -> list[QueueItem]:
    """Accounts still to review, newest first."""
    items: dict[str, QueueItem] = {}
    for e in events_oldest_first:
        if e.kind in _SETTLED:
            items.pop(e.account, None)
            continue
        if e.kind == "flag_cleared":
            item = items.get(e.account)
            if item is not None:
                item.reasons.discard(e.attributes.get("flag", "").upper())
                if not item.reasons:
                    del items[e.account]
            continue
        reason = _reason(e)
        if reason is None:
            continue
        account = _linked_account(e) if e.kind == "account_linked" else e.account
        if not account:
            continue
        item = items.setdefault(account, QueueItem(account))
        item.reasons.add(reason)
        item.last_at, item.last_id = e.at_unix_ms, e.id
    return sorted(items.values(), key=lambda i: (i.last_at, i.last_id), reverse=True)


def counts(items: Iterable[QueueItem]) -> dict[str, int]:
    """Accounts per reason, every reason listed (zero included)."""
    out = dict.fromkeys(REASONS, 0)
    for item in items:
        for reason in item.reasons:
            out[reason] = out.get(reason, 0) + 1
    return out
