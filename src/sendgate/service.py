"""gRPC servicers: thin shells that validate, call the Gate, and convert.

Errors are mapped in one place (`_rpc`): InvalidArgument → INVALID_ARGUMENT with a
google.rpc.BadRequest naming the field; BackendError → UNAVAILABLE.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sendgate import validation as v
from sendgate.convert import decision_pb, usage_pb
from sendgate.errors import BackendError, InvalidArgument
from sendgate.gate import Gate
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

log = logging.getLogger("sendgate.service")

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


async def abort_invalid(context: grpc.aio.ServicerContext, err: InvalidArgument) -> None:
    """INVALID_ARGUMENT whose message and BadRequest detail both name the field."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=err.field, description=err.message
                )
            ]
        )
    )
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(err), details=[detail])
    )
    await context.abort(status.code, status.details, status.trailing_metadata)


def _rpc(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await fn(self, request, context)
        except InvalidArgument as err:
            await abort_invalid(context, err)
        except BackendError as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"redis unavailable: {err}")
        raise AssertionError("unreachable: abort raises")

    return wrapper


async def _unimplemented(context: grpc.aio.ServicerContext, name: str) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{name} is not implemented yet")


class SendGateService(pb_grpc.SendGateServicer):  # type: ignore[misc]
    """sendgate.v1.SendGate: the calls a chat server makes for every message."""

    def __init__(self, gate: Gate, allow_client_time: bool) -> None:
        self._gate = gate
        self._allow_time = allow_client_time

    def _send_request(self, r: pb.CanSendRequest, prefix: str = "") -> Any:
        return v.send_request(
            sender=r.sender,
            recipient=r.recipient,
            message_id_=r.message_id,
            via_=r.via,
            dry_run=r.dry_run,
            at_unix_ms=r.at_unix_ms,
            allow_client_time=self._allow_time,
            prefix=prefix,
        )

    @_rpc
    async def CanSend(
        self, request: pb.CanSendRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendResponse:
        req = self._send_request(request)
        return decision_pb(await self._gate.can_send(req, context.time_remaining()))

    @_rpc
    async def CanSendBatch(
        self, request: pb.CanSendBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendBatchResponse:
        if len(request.requests) > v.MAX_BATCH:
            raise InvalidArgument("requests", f"more than {v.MAX_BATCH} requests in one batch")
        reqs = [self._send_request(r, f"requests[{i}].") for i, r in enumerate(request.requests)]
        results = await self._gate.can_send_batch(reqs, context.time_remaining())
        return pb.CanSendBatchResponse(responses=[decision_pb(d) for d in results])

    @_rpc
    async def RecordReply(
        self, request: pb.RecordReplyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordReplyResponse:
        replier = v.account_id(request.replier, "replier")
        replied_to = v.account_id(request.replied_to, "replied_to")
        v.distinct(replier, replied_to, "replied_to", "replier")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        refunded = await self._gate.record_reply(
            replier, replied_to, at_ms, context.time_remaining()
        )
        return pb.RecordReplyResponse(refunded=refunded)

    @_rpc
    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetUsageResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        usage = await self._gate.usage(account, at_ms, context.time_remaining())
        return pb.GetUsageResponse(usage=usage_pb(usage))

    async def RecordFeedback(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "RecordFeedback")

    async def RecordOptIn(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "RecordOptIn")

    async def RequestException(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "RequestException")

    async def CheckRegistration(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "CheckRegistration")


class SendGateAdminService(pb_grpc.SendGateAdminServicer):  # type: ignore[misc]
    """sendgate.v1.SendGateAdmin: trust-and-safety tools (filled in by later releases)."""

    async def UpsertAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "UpsertAccount")

    async def GetAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "GetAccount")

    async def ReviewException(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "ReviewException")

    async def ListExceptions(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "ListExceptions")

    async def BanAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "BanAccount")

    async def UnbanAccount(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "UnbanAccount")

    async def EvaluateTier(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _unimplemented(context, "EvaluateTier")
