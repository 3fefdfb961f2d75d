"""Checks every request field before anything is recorded.

Each failure raises InvalidArgument naming the field (with its position inside a
batch, e.g. `requests[3].sender`).
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import TypeVar

from sendgate.domain import SendRequest, Via
from sendgate.errors import InvalidArgument

MAX_ID_LENGTH = 128
MAX_MESSAGE_ID_LENGTH = 256
MAX_BATCH = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# 2001-01-01T00:00:00Z in ms. Any sendgate time is later; a smaller non-zero value is
# almost surely Unix seconds (2001 in seconds is 978307200, i.e. 1970-01-12 as ms).
MIN_UNIX_MS = 978_307_200_000


def account_id(value: str, field: str) -> str:
    """An account id: 1 to 128 characters, no control characters."""
    if not value:
        raise InvalidArgument(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(field, f"longer than {MAX_ID_LENGTH} characters")
    if _CONTROL.search(value):
        raise InvalidArgument(field, "contains control characters")
    return value


def message_id(value: str, field: str) -> str:
    """A message id: 1 to 256 characters, no control characters (README: ids)."""
    if not value:
        raise InvalidArgument(field, "must not be empty (it is the idempotency key)")
    if len(value) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidArgument(field, f"longer than {MAX_MESSAGE_ID_LENGTH} characters")
    if _CONTROL.search(value):
        raise InvalidArgument(field, "contains control characters")
    return value


def unix_ms(value: int, field: str) -> int:
    """A set (non-zero) time: Unix milliseconds, not seconds and not negative."""
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    if 0 < value < MIN_UNIX_MS:
        raise InvalidArgument(
            field, f"{value} looks like seconds: times are Unix milliseconds (UTC)"
        )
    return value


def future_ms(value: int, now_ms: int, field: str) -> int:
    """A time that must lie after `now_ms` (an expiry), in Unix milliseconds."""
    if value == 0:
        raise InvalidArgument(field, "must be set (Unix milliseconds, in the future)")
    unix_ms(value, field)
    if value <= now_ms:
        raise InvalidArgument(field, f"{value} is in the past (now is {now_ms})")
    return value


def client_time(value: int, allow_client_time: bool, field: str = "at_unix_ms") -> int:
    """0 means now (Redis TIME); any other value needs allow_client_time."""
    if value == 0:
        return 0
    if not allow_client_time:
        raise InvalidArgument(field, "set, but the server does not run with allow_client_time")
    return unix_ms(value, field)


# 0 is the proto's unspecified value: a phone-number message.
_VIA = {0: Via.PHONE_NUMBER, **{int(v): v for v in Via}}


def via(value: int, field: str = "via") -> Via:
    found = _VIA.get(value)
    if found is None:
        raise InvalidArgument(field, f"unknown enum value {value}")
    return found


E = TypeVar("E", bound=IntEnum)
MAX_NOTE_LENGTH = 2000


def enum(cls: type[E], value: int, field: str) -> E:
    """A known, non-zero enum value (0 is the proto's UNSPECIFIED)."""
    try:
        if value == 0:
            raise ValueError
        return cls(value)
    except ValueError:
        raise InvalidArgument(field, f"unknown or unspecified enum value {value}") from None


def note(value: str, field: str) -> str:
    if len(value) > MAX_NOTE_LENGTH:
        raise InvalidArgument(field, f"longer than {MAX_NOTE_LENGTH} characters")
    return value


def request_id(value: str, field: str) -> str:
    if not value or len(value) > 64 or not value.isalnum():
        raise InvalidArgument(field, "not a request id")
    return value


def distinct(a: str, b: str, field: str, what: str) -> None:
    if a == b:
        raise InvalidArgument(field, f"must differ from {what}")


def send_request(
    *,
    sender: str,
    recipient: str,
    message_id_: str,
    via_: int,
    dry_run: bool,
    at_unix_ms: int,
    allow_client_time: bool,
    prefix: str = "",
) -> SendRequest:
    """A CanSend request from its wire fields."""
    # Every message passes here: the common case (all valid) is one expression, and
    # only a request that fails it goes through the field-by-field checks below, which
    # name the first field at fault. Both accept exactly the same requests.
    v = _VIA.get(via_)
    if (
        v is not None
        and 0 < len(sender) <= MAX_ID_LENGTH
        and 0 < len(recipient) <= MAX_ID_LENGTH
        and 0 < len(message_id_) <= MAX_MESSAGE_ID_LENGTH
        and sender != recipient
        and (at_unix_ms == 0 or (allow_client_time and at_unix_ms >= MIN_UNIX_MS))
        and _CONTROL.search(sender) is None
        and _CONTROL.search(recipient) is None
        and _CONTROL.search(message_id_) is None
    ):
        return SendRequest(
            sender=sender,
            recipient=recipient,
            message_id=message_id_,
            via=v,
            dry_run=dry_run,
            at_ms=at_unix_ms,
        )
    return send_request_checked(
        sender=sender,
        recipient=recipient,
        message_id_=message_id_,
        via_=via_,
        dry_run=dry_run,
        at_unix_ms=at_unix_ms,
        allow_client_time=allow_client_time,
        prefix=prefix,
    )


def send_request_checked(
    *,
    sender: str,
    recipient: str,
    message_id_: str,
    via_: int,
    dry_run: bool,
    at_unix_ms: int,
    allow_client_time: bool,
    prefix: str = "",
) -> SendRequest:
    """`send_request` field by field: raises InvalidArgument naming the first field at
    fault (the reference the fast path of `send_request` is tested against)."""
    s = account_id(sender, prefix + "sender")
    r = account_id(recipient, prefix + "recipient")
    distinct(s, r, prefix + "recipient", "sender")
    return SendRequest(
        sender=s,
        recipient=r,
        message_id=message_id(message_id_, prefix + "message_id"),
        via=via(via_, prefix + "via"),
        dry_run=dry_run,
        at_ms=client_time(at_unix_ms, allow_client_time, prefix + "at_unix_ms"),
    )


# ListEvents
EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 1000
MAX_EVENT_KINDS = 32
_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
_U64 = 2**64 - 1


def stream_id(value: str, field: str = "after_id") -> str:
    """ "" (from the oldest kept) or a stream id `<ms>-<seq>` as ListEvents returned it."""
    if not value:
        return ""
    m = _STREAM_ID.fullmatch(value)
    if m is None or int(m[1]) > _U64 or int(m[2]) > _U64:
        raise InvalidArgument(field, "must be an event id <ms>-<seq> (a next_id), or empty")
    return value


def page_limit(value: int, field: str = "limit") -> int:
    """0 → the default page; larger than the cap → the cap."""
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return min(value or EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT)


def event_kinds(values: list[str], field: str = "kinds") -> frozenset[str]:
    """Event kinds to keep (empty: all), each like `limit_hit`."""
    if len(values) > MAX_EVENT_KINDS:
        raise InvalidArgument(field, f"more than {MAX_EVENT_KINDS} kinds")
    for i, kind in enumerate(values):
        if not _KIND.fullmatch(kind):
            raise InvalidArgument(
                f"{field}[{i}]", "must be an event kind: lower-case letters, digits, _"
            )
    return frozenset(values)
