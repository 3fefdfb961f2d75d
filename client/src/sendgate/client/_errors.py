"""Client errors. gRPC errors are mapped to these in one place, `map_rpc_error`.

    SendGateError                   root of every sendgate exception (the sidecar's too)
    └── ClientError                 any failed call; `code` is the gRPC status name
        ├── InvalidArgumentError    bad input, nothing recorded; `field` names the field
        ├── Unauthenticated         no bearer token was sent (or it was malformed)
        ├── PermissionDenied        wrong token, or a client certificate not allowed
        ├── NotFound                e.g. ReviewException of an unknown request_id
        ├── FailedPrecondition      e.g. reviewing a decided request, a ban without HMAC key
        ├── Unavailable             the sidecar cannot be reached (or cannot answer now)
        └── DeadlineExceeded        no answer within the call's timeout

A denial is never an exception: it is a `CanSendResult` with `decision = DENY`.
With `fail_open=True` the CanSend calls answer ALLOW instead of raising Unavailable
or DeadlineExceeded. Bad constructor arguments raise ValueError/TypeError, as
programming errors do.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class SendGateError(Exception):
    """Root of every sendgate exception, client and sidecar."""


class ClientError(SendGateError):
    """A call failed; `code` is the gRPC status name, `message` the server's text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(ClientError):
    """The sidecar refused the request; `field` names the bad field (for example
    `recipient` or `requests[3].sender`)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__("INVALID_ARGUMENT", message)
        self.field = field


class Unauthenticated(ClientError):
    """The service needs a bearer token and none was sent: pass `token=`."""


class PermissionDenied(ClientError):
    """The token is wrong for this service, or the client certificate is not allowed."""


class NotFound(ClientError):
    """The thing named in the request does not exist."""


class FailedPrecondition(ClientError):
    """The request is valid but cannot be done in the current state."""


class Unavailable(ClientError):
    """The sidecar cannot be reached, or cannot answer now."""


class DeadlineExceeded(ClientError):
    """No answer within the call's timeout."""


_BY_CODE: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}

# The codes a fail-open client answers ALLOW for: the sidecar is down or late. Every
# other code (a bad token, bad input) is a bug to see, so it still raises.
SIDECAR_DOWN = (Unavailable, DeadlineExceeded)


def _bad_field(exc: grpc.Call) -> str:
    status = rpc_status.from_call(exc)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                if bad.field_violations:
                    return str(bad.field_violations[0].field)
    return ""


def map_rpc_error(exc: grpc.RpcError) -> ClientError:
    """The ClientError for a failed call (sync or aio)."""
    code: grpc.StatusCode = exc.code()
    message = str(exc.details() or "")
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        field = _bad_field(exc) if isinstance(exc, grpc.Call) else ""
        return InvalidArgumentError(message, field or message.partition(":")[0])
    return _BY_CODE.get(code, ClientError)(code.name, message)


def stream_deadline(timeout: float) -> DeadlineExceeded:
    """The error of a stream whose answer took longer than its per-message timeout."""
    return DeadlineExceeded("DEADLINE_EXCEEDED", f"no answer within {timeout:g} s")
