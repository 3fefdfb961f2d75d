"""The domain: requests, decisions and usage, free of gRPC and Redis.

Enum values equal the wire values of `sendgate.v1` (a unit test keeps them so),
which makes conversion a cast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class Decision(IntEnum):
    ALLOW = 1
    DENY = 2
    REVIEW = 3


class Via(IntEnum):
    PHONE_NUMBER = 1
    USERNAME = 2


class Reason(IntEnum):
    NONE = 0  # REASON_UNSPECIFIED on the wire: allowed, no rule applied
    MONTHLY_UNREPLIED_LIMIT = 1
    USERNAME_LIMIT = 2
    BUSINESS_TIER_LIMIT = 3
    NO_OPT_IN = 4
    ACCOUNT_BANNED = 5
    SUSPECTED_BULK = 6
    BACKEND_UNAVAILABLE = 7
    UNDER_REVIEW = 8
    NEW_ACCOUNT_LIMIT = 9


class Warning(IntEnum):
    NONE = 0
    APPROACHING = 1
    AT_LIMIT = 2


class AccountKind(IntEnum):
    PERSONAL = 1
    BUSINESS = 2


class Quality(IntEnum):
    UNSPECIFIED = 0  # personal accounts
    HIGH = 1
    MEDIUM = 2
    LOW = 3


class AccountStatus(IntEnum):
    UNSPECIFIED = 0
    CONNECTED = 1
    FLAGGED = 2
    RESTRICTED = 3
    BANNED = 4


class Flag(IntEnum):
    QUALITY_LOW = 1
    BULK_SUSPECTED = 2
    BAN_EVASION = 3
    LINKED_TO_BANNED = 4
    IN_REVIEW = 5


class FeedbackKind(IntEnum):
    BLOCK = 1
    SPAM_REPORT = 2


class ExceptionReason(IntEnum):
    TALKING_TO_CUSTOMERS_OR_EMPLOYEES = 1
    REACHING_NEW_PERSONAL_CONNECTIONS = 2
    INVITING_TO_LARGE_EVENT = 3
    RECONNECTING_AFTER_NEW_PHONE = 4


class ExceptionState(IntEnum):
    PENDING = 1
    APPROVED = 2
    REJECTED = 3
    EXPIRED = 4


# Metric label for each limit a denial hits (sendgate_limit_hits_total{limit}).
LIMIT_LABELS: dict[Reason, str] = {
    Reason.MONTHLY_UNREPLIED_LIMIT: "monthly_unreplied",
    Reason.USERNAME_LIMIT: "username",
    Reason.BUSINESS_TIER_LIMIT: "business_tier",
    Reason.NO_OPT_IN: "no_opt_in",
    Reason.SUSPECTED_BULK: "suspected_bulk",
    Reason.ACCOUNT_BANNED: "account_banned",
    Reason.UNDER_REVIEW: "under_review",
    Reason.NEW_ACCOUNT_LIMIT: "new_account",
}


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One validated CanSend question."""

    sender: str
    recipient: str
    message_id: str
    via: Via = Via.PHONE_NUMBER
    dry_run: bool = False
    at_ms: int = 0  # 0: Redis TIME


@dataclass(frozen=True, slots=True)
class Event:
    """An enforcement event for the `sendgate:events` stream."""

    type: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """An account's monthly quota position, and its business standing."""

    used: int = 0
    limit: int = 0
    resets_at: int = 0
    username_used: int = 0
    username_limit: int = 0
    kind: AccountKind = AccountKind.PERSONAL
    tier_limit: int = 0  # 0 = unlimited (business accounts only)
    unique_users_24h: int = 0
    quality: Quality = Quality.UNSPECIFIED
    status: AccountStatus = AccountStatus.UNSPECIFIED
    flags: tuple[Flag, ...] = ()
    # New conversations opened today under a daily limit (review, a young account's
    # ramp), and that limit; None = no daily limit applies.
    new_conversations_today: int = 0
    new_conversations_limit: int | None = None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class SendDecision:
    """The answer to one CanSend."""

    decision: Decision
    reason: Reason = Reason.NONE
    counted: bool = False
    usage: Usage = field(default_factory=Usage)
    warning: Warning = Warning.NONE
    retry_after_ms: int = 0
    duplicate: bool = False
    degraded: bool = False
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountView:
    """What sendgate knows about one account (GetAccount, UpsertAccount, EvaluateTier)."""

    account: str
    usage: Usage
    business_verified: bool = False
    identity_verified: bool = False
    registered_at: int = 0
    tier_index: int = 0
    reasons: tuple[str, ...] = ()
    bulk_score: float = 0.0
    features: tuple[tuple[str, float], ...] = ()
    events: tuple[Event, ...] = ()
    banned: bool = False
    ban_reason: str = ""
    under_review: bool = False
    review_daily_limit: int = 0
    linked_to_banned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExceptionRecord:
    """A message-limit exception request and its review."""

    request_id: str
    account: str
    reason: ExceptionReason
    note: str
    state: ExceptionState
    extra_allowance: int = 0
    expires_at: int = 0
    requested_at: int = 0
    reviewed_at: int = 0


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """An account sharing identifiers with another (ListLinkedAccounts)."""

    account: str
    shared_kinds: tuple[str, ...]
    strong: bool
    banned: bool


@dataclass(frozen=True, slots=True)
class ReviewState:
    """An account's review and link state (GetAccount)."""

    under_review: bool = False
    daily_limit: int = 0
    linked_to_banned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One entry of the `sendgate:events` stream, as ListEvents returns it."""

    id: str  # the stream id, `<ms>-<seq>`
    kind: str
    account: str = ""
    at_ms: int = 0
    attributes: tuple[tuple[str, str], ...] = ()
