"""The exceptions sendgate raises.

    SendGateError
    ├── InvalidArgument          bad input; `field` names the offending field
    ├── ConfigError              invalid configuration; `key` names the setting
    ├── BackendError             Redis failed or was too slow (wrapped at the store boundary)
    │   └── BackendUnavailable   the circuit breaker is open, Redis was not asked
    └── StartupError             the server cannot start (Redis evicts, port taken, …)

The root is the client's (`sendgate.client.SendGateError`), so a program that uses
both catches one class; client-side errors live in `sendgate.client`.
"""

from __future__ import annotations

from sendgate.client import SendGateError

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "ConfigError",
    "InvalidArgument",
    "SendGateError",
    "StartupError",
]


class InvalidArgument(SendGateError):
    """A request field is invalid; nothing was recorded."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConfigError(SendGateError):
    """The configuration is invalid."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"invalid configuration: {key}: {message}")
        self.key = key


class BackendError(SendGateError):
    """Redis answered with an error, failed, or did not answer within the budget."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"redis {kind}: {message}")
        self.kind = kind


class BackendUnavailable(BackendError):
    """The circuit breaker is open: Redis was not asked at all."""

    def __init__(self) -> None:
        super().__init__("circuit_open", "circuit breaker open")


class StartupError(SendGateError):
    """The server cannot start."""
