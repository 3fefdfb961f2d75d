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
    if not value:
        raise InvalidArgument(field, "must not be empty (it is the idempotency key)")
    if len(value) > MAX_MESSAGE_ID_LENGTH:
        raise InvalidArgument(field, f"longer than {MAX_MESSAGE_ID_LENGTH} characters")
    return value


def client_time(value: int, allow_client_time: bool, field: str = "at_unix_ms") -> int:
    """0 means now (Redis TIME); any other value needs allow_client_time."""
    if value == 0:
        return 0
    if not allow_client_time:
        raise InvalidArgument(field, "set, but the server does not run with allow_client_time")
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return value


def via(value: int, field: str = "via") -> Via:
    if value == 0:
        return Via.PHONE_NUMBER
    try:
        return Via(value)
    except ValueError:
        raise InvalidArgument(field, f"unknown enum value {value}") from None


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
