"""Python clients for a running sendgate sidecar (sync and asyncio, the same methods).

    from sendgate.client import SendGateClient
    with SendGateClient("127.0.0.1:50051", token="…", timeout=0.2, fail_open=True) as sg:
        result = sg.can_send("alice", "bob", message_id="m-1")
        if not result.allowed: ...

`SendGateClient` / `AsyncSendGateClient` call the SendGate service (chat servers);
`AdminClient` / `AsyncAdminClient` the SendGateAdmin service (trust-and-safety
tools). Both flavours share one core with all logic that does no I/O, and differ
only in the line that does it. Errors: see `sendgate.client._errors` (one root,
`SendGateError`). Results are frozen dataclasses; enums are `StrEnum`s.
"""

from sendgate.client._admin_results import (
    Account,
    Event,
    EventPage,
    LimitException,
    LinkedAccount,
    TierEvaluation,
)
from sendgate.client._async import AsyncSendGateClient
from sendgate.client._async_admin import AsyncAdminClient
from sendgate.client._calls import Message, SendOptions
from sendgate.client._channel import ConnectOptions
from sendgate.client._core import DEFAULT_TARGET, DEFAULT_TIMEOUT_S, USE_CLIENT_DEFAULT
from sendgate.client._enums import (
    AccountKind,
    AccountStatus,
    Decision,
    ExceptionReason,
    ExceptionState,
    FeedbackKind,
    Flag,
    LimitWarning,
    Quality,
    Reason,
    Via,
)
from sendgate.client._errors import (
    ClientError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgumentError,
    NotFound,
    PermissionDenied,
    SendGateError,
    Unauthenticated,
    Unavailable,
)
from sendgate.client._results import CanSendResult, ExceptionTicket, RegistrationResult, Usage
from sendgate.client._sync import SendGateClient
from sendgate.client._sync_admin import AdminClient

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TIMEOUT_S",
    "USE_CLIENT_DEFAULT",
    "Account",
    "AccountKind",
    "AccountStatus",
    "AdminClient",
    "AsyncAdminClient",
    "AsyncSendGateClient",
    "CanSendResult",
    "ClientError",
    "ConnectOptions",
    "DeadlineExceeded",
    "Decision",
    "Event",
    "EventPage",
    "ExceptionReason",
    "ExceptionState",
    "ExceptionTicket",
    "FailedPrecondition",
    "FeedbackKind",
    "Flag",
    "InvalidArgumentError",
    "LimitException",
    "LimitWarning",
    "LinkedAccount",
    "Message",
    "NotFound",
    "PermissionDenied",
    "Quality",
    "Reason",
    "RegistrationResult",
    "SendGateClient",
    "SendGateError",
    "SendOptions",
    "TierEvaluation",
    "Unauthenticated",
    "Unavailable",
    "Usage",
    "Via",
]
