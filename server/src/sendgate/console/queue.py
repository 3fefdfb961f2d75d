"""The review queue's flagged accounts, derived from the enforcement stream (pure).

An account enters the queue when an event says a reviewer should look (a `REVIEW`
answer at registration, a raised flag the queue watches, a link to a banned account)
and leaves it when an event settles that (a ban, a cleared review, the flag cleared,
the last link lifted by the banned account's unban).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sendgate.console.models import EventInfo

# Reasons a reviewer should look, as the queue names them (Usage flag names).
LINKED = "LINKED_TO_BANNED"
WATCHED_FLAGS = ("BAN_EVASION", LINKED, "BULK_SUSPECTED", "QUALITY_LOW")
REVIEW = "REVIEW"
REASONS = (REVIEW, *WATCHED_FLAGS)
# Event kinds after which nothing is left to review.
_SETTLED = frozenset({"account_banned", "review_cleared", "account_forgotten"})


@dataclass
class QueueItem:
    account: str
    reasons: set[str] = field(default_factory=set)
    # Banned account -> the identifier kinds shared with it (from `account_linked`).
    linked_to: dict[str, str] = field(default_factory=dict)
    last_at: int = 0
    last_id: str = ""


def _reason(event: EventInfo) -> str | None:
    if event.kind == "flag_raised":
        flag = event.attributes.get("flag", "").upper()
        return flag if flag in WATCHED_FLAGS else None
    if event.kind == "ban_evasion" and event.attributes.get("decision") == REVIEW:
        return REVIEW
    if event.kind == "account_linked":
        return LINKED
    return None


def _unlinked(items: dict[str, QueueItem], e: EventInfo) -> None:
    """The banned account's unban lifted this link; `cleared=1`: no cause is left."""
    item = items.get(e.account)
    if item is None:
        return
    item.linked_to.pop(e.attributes.get("banned_account", ""), None)
    if e.attributes.get("cleared") == "1":
        item.reasons.discard(LINKED)
        item.linked_to.clear()
    if not item.reasons:
        del items[e.account]


def build(events_oldest_first: Iterable[EventInfo]) -> list[QueueItem]:
    """Accounts still to review, newest first.

    `account_linked` and `account_unlinked` are appended under the linked account (the
    banned one is the `banned_account` attribute)."""
    items: dict[str, QueueItem] = {}
    for e in events_oldest_first:
        if not e.account:
            continue
        if e.kind in _SETTLED:
            items.pop(e.account, None)
            continue
        if e.kind == "account_unlinked":
            _unlinked(items, e)
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
        item = items.setdefault(e.account, QueueItem(e.account))
        item.reasons.add(reason)
        if e.kind == "account_linked" and e.attributes.get("banned_account"):
            kinds = e.attributes.get("shared_kinds", "").replace(",", ", ")
            item.linked_to[e.attributes["banned_account"]] = kinds
        item.last_at, item.last_id = e.at_unix_ms, e.id
    return sorted(items.values(), key=lambda i: (i.last_at, i.last_id), reverse=True)


def counts(items: Iterable[QueueItem]) -> dict[str, int]:
    """Accounts per reason, every reason listed (zero included)."""
    out = dict.fromkeys(REASONS, 0)
    for item in items:
        for reason in item.reasons:
            out[reason] = out.get(reason, 0) + 1
    return out
