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


class Warning(IntEnum):
    NONE = 0
    APPROACHING = 1
    AT_LIMIT = 2


class AccountKind(IntEnum):
    PERSONAL = 1
    BUSINESS = 2


# Metric label for each limit a denial hits (sendgate_limit_hits_total{limit}).
LIMIT_LABELS: dict[Reason, str] = {
    Reason.MONTHLY_UNREPLIED_LIMIT: "monthly_unreplied",
    Reason.USERNAME_LIMIT: "username",
    Reason.BUSINESS_TIER_LIMIT: "business_tier",
    Reason.NO_OPT_IN: "no_opt_in",
    Reason.SUSPECTED_BULK: "suspected_bulk",
    Reason.ACCOUNT_BANNED: "account_banned",
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
class Usage:
    """An account's monthly quota position."""

    used: int = 0
    limit: int = 0
    resets_at: int = 0
    username_used: int = 0
    username_limit: int = 0
    kind: AccountKind = AccountKind.PERSONAL

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
