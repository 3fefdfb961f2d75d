"""The API's enums as `StrEnum`s: a member equals its proto name (`Decision.ALLOW ==
"ALLOW"`), so results compare with plain strings and print as JSON without help.

Written out (not generated) so type checkers and editors see every member; a test
checks that each one matches its proto enum exactly (`LimitWarning` is the
proto's `Warning`). A number a newer sidecar sends
that this client does not know yet reads as the enum's zero member (flags: dropped).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


class Decision(StrEnum):
    DECISION_UNSPECIFIED = "DECISION_UNSPECIFIED"
    ALLOW = "ALLOW"
    DENY = "DENY"
    REVIEW = "REVIEW"  # CheckRegistration only


class Via(StrEnum):
    VIA_UNSPECIFIED = "VIA_UNSPECIFIED"
    PHONE_NUMBER = "PHONE_NUMBER"
    USERNAME = "USERNAME"


class Reason(StrEnum):
    REASON_UNSPECIFIED = "REASON_UNSPECIFIED"  # allowed, no rule applied
    MONTHLY_UNREPLIED_LIMIT = "MONTHLY_UNREPLIED_LIMIT"
    USERNAME_LIMIT = "USERNAME_LIMIT"
    BUSINESS_TIER_LIMIT = "BUSINESS_TIER_LIMIT"
    NO_OPT_IN = "NO_OPT_IN"
    ACCOUNT_BANNED = "ACCOUNT_BANNED"
    SUSPECTED_BULK = "SUSPECTED_BULK"
    BACKEND_UNAVAILABLE = "BACKEND_UNAVAILABLE"
    UNDER_REVIEW = "UNDER_REVIEW"  # under review: the day's new conversations are used
    NEW_ACCOUNT_LIMIT = "NEW_ACCOUNT_LIMIT"  # a young account used today's earned ramp


class LimitWarning(StrEnum):
    """The proto's `Warning` (renamed: the builtin `Warning` must stay reachable)."""

    NONE = "NONE"
    APPROACHING = "APPROACHING"
    AT_LIMIT = "AT_LIMIT"


class Quality(StrEnum):
    QUALITY_UNSPECIFIED = "QUALITY_UNSPECIFIED"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class AccountStatus(StrEnum):
    ACCOUNT_STATUS_UNSPECIFIED = "ACCOUNT_STATUS_UNSPECIFIED"
    CONNECTED = "CONNECTED"
    FLAGGED = "FLAGGED"
    RESTRICTED = "RESTRICTED"
    BANNED = "BANNED"


class Flag(StrEnum):
    FLAG_UNSPECIFIED = "FLAG_UNSPECIFIED"
    QUALITY_LOW = "QUALITY_LOW"
    BULK_SUSPECTED = "BULK_SUSPECTED"
    BAN_EVASION = "BAN_EVASION"
    LINKED_TO_BANNED = "LINKED_TO_BANNED"
    IN_REVIEW = "IN_REVIEW"


class FeedbackKind(StrEnum):
    FEEDBACK_KIND_UNSPECIFIED = "FEEDBACK_KIND_UNSPECIFIED"
    BLOCK = "BLOCK"
    SPAM_REPORT = "SPAM_REPORT"


class AccountKind(StrEnum):
    ACCOUNT_KIND_UNSPECIFIED = "ACCOUNT_KIND_UNSPECIFIED"
    PERSONAL = "PERSONAL"
    BUSINESS = "BUSINESS"


class ExceptionReason(StrEnum):
    EXCEPTION_REASON_UNSPECIFIED = "EXCEPTION_REASON_UNSPECIFIED"
    TALKING_TO_CUSTOMERS_OR_EMPLOYEES = "TALKING_TO_CUSTOMERS_OR_EMPLOYEES"
    REACHING_NEW_PERSONAL_CONNECTIONS = "REACHING_NEW_PERSONAL_CONNECTIONS"
    INVITING_TO_LARGE_EVENT = "INVITING_TO_LARGE_EVENT"
    RECONNECTING_AFTER_NEW_PHONE = "RECONNECTING_AFTER_NEW_PHONE"


class ExceptionState(StrEnum):
    EXCEPTION_STATE_UNSPECIFIED = "EXCEPTION_STATE_UNSPECIFIED"
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


def from_pb(cls: type[E], pb_enum: Any, number: int) -> E:
    """The member for a proto enum number; the zero member for a number unknown here."""
    try:
        return cls(pb_enum.Name(number))
    except ValueError:
        return next(iter(cls))


def to_pb(cls: type[E], pb_enum: Any, value: E | str, field: str) -> int:
    """The proto number of a member or its name; ValueError naming `field` otherwise."""
    try:
        return int(pb_enum.Value(str(cls(value))))
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise ValueError(f"{field}: {value!r} is not one of {names}") from None
