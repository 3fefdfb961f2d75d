"""Client errors, mapped from grpc.RpcError in one place.

SendGateError                   root of every sendgate exception (the sidecar's too)
└── ClientError                 any failed call; `code` is the gRPC status name
    ├── InvalidArgumentError    `field` names the bad request field
    ├── Unavailable             the sidecar (or its Redis) cannot answer now
    └── DeadlineExceeded        no answer within the timeout
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class SendGateError(Exception):
    """Root of every sendgate exception, client and sidecar."""


class ClientError(SendGateError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidArgumentError(ClientError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__("INVALID_ARGUMENT", message)
        self.field = field


class Unavailable(ClientError):
    pass


class DeadlineExceeded(ClientError):
    pass


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
    if code is grpc.StatusCode.UNAVAILABLE:
        return Unavailable(code.name, message)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceeded(code.name, message)
    return ClientError(code.name, message)
