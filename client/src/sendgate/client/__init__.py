"""Python clients for a running sendgate sidecar.

    from sendgate.client import SendGateClient
    with SendGateClient("127.0.0.1:50051") as sg:
        result = sg.can_send("alice", "bob", message_id="m-1")
        if not result.allowed: ...

`AsyncSendGateClient` is the same over grpc.aio. Both share one core with all
logic that does no I/O (`sendgate.client._core`).
"""

from sendgate.client._async import AsyncSendGateClient
from sendgate.client._errors import (
    ClientError,
    DeadlineExceeded,
    InvalidArgumentError,
    SendGateError,
    Unavailable,
)
from sendgate.client._results import CanSendResult, Usage
from sendgate.client._sync import SendGateClient

__all__ = [
    "AsyncSendGateClient",
    "CanSendResult",
    "ClientError",
    "DeadlineExceeded",
    "InvalidArgumentError",
    "SendGateClient",
    "SendGateError",
    "Unavailable",
    "Usage",
]
