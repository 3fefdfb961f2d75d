"""What the sync and async clients share: everything that does no I/O.

A call is a `Call`: the RPC name, the request message, how to turn the response into
a typed result, and (for the CanSend family) what a fail-open client answers instead
of raising. The request builders are in `_calls` and `_admin_calls`; the clients differ
only in how they send a `Call`.
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

from sendgate.client._errors import SIDECAR_DOWN, ClientError

DEFAULT_TARGET = "127.0.0.1:50051"
# Generous for a loopback sidecar; chat servers should pass their own.
DEFAULT_TIMEOUT_S = 1.0

T = TypeVar("T")


class _Default(enum.Enum):
    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"


# A call's `timeout` when not given: the client's own. `timeout=None` means no deadline.
USE_CLIENT_DEFAULT: Final = _Default.USE_CLIENT_DEFAULT
Timeout = float | None | Literal[_Default.USE_CLIENT_DEFAULT]


def check_timeout(value: float | None, name: str = "timeout") -> float | None:
    """A timeout is a positive finite number of seconds, or None (no deadline)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name}: seconds as a number, or None")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}: must be a positive number of seconds, or None")
    return float(value)


def resolve_timeout(timeout: Timeout, default: float | None) -> float | None:
    """The deadline in seconds for one call (None: none)."""
    if timeout is USE_CLIENT_DEFAULT:
        return default
    return check_timeout(timeout)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    request: Any
    parse: Callable[[Any], T]
    # The CanSend family with fail_open: the answer when the sidecar is down or late.
    fallback: Callable[[], T] | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """A client's per-call settings, fixed at construction."""

    timeout: float | None
    fail_open: bool
    metadata: tuple[tuple[str, str], ...]


def fails_open(call: Call[T], err: ClientError, settings: Settings) -> bool:
    """Whether a failed call answers its fail-open fallback instead of raising."""
    return settings.fail_open and call.fallback is not None and isinstance(err, SIDECAR_DOWN)


class StreamClock:
    """Per-message deadlines of one CanSendStream: each answer is due `timeout` seconds
    after its request went out. Requests are answered in order, so only the oldest
    unanswered one can be late."""

    def __init__(self, timeout: float | None, now: Callable[[], float] = time.monotonic):
        self.timeout = timeout
        self._now = now
        self._sent: deque[float] = deque()

    def sent(self) -> None:
        self._sent.append(self._now())

    def answered(self) -> None:
        self._sent.popleft()

    @property
    def pending(self) -> int:
        return len(self._sent)

    def wait_s(self) -> float | None:
        """Seconds until the oldest unanswered request is late (≤ 0: late now); None
        when nothing is due."""
        if self.timeout is None or not self._sent:
            return None
        return self._sent[0] + self.timeout - self._now()
