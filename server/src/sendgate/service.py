"""gRPC servicers: thin shells that validate, call the Gate, and convert.

Errors are mapped in one place (`_rpc`): InvalidArgument → INVALID_ARGUMENT with a
google.rpc.BadRequest naming the field; BackendError → UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from sendgate import evasion
from sendgate import validation as v
from sendgate.admin import Admin, Conflict, NoHmacKey, NotFound
from sendgate.convert import (
    account_pb,
    decision_pb,
    event_pb,
    exception_pb,
    linked_pb,
    usage_pb,
)
from sendgate.domain import (
    AccountKind,
    ExceptionReason,
    ExceptionState,
    FeedbackKind,
    SendDecision,
    SendRequest,
)
from sendgate.errors import BackendError, InvalidArgument
from sendgate.events_feed import EventFeed
from sendgate.gate import Gate
from sendgate.guard import Deadline
from sendgate.months import wall_ms
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

log = logging.getLogger("sendgate.service")

# Requests of one stream read ahead of their decisions, and the most decided in one
# round trip (bounded memory per stream).
STREAM_WINDOW = 128

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


class SendGateService(pb_grpc.SendGateServicer):
    """sendgate.v1.SendGate: the calls a chat server makes for every message."""

    def __init__(self, gate: Gate, admin: Admin, allow_client_time: bool) -> None:
        self._gate = gate
        self._admin = admin
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

    async def CanSend(
        self, request: pb.CanSendRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendResponse:
        # `_rpc`'s error mapping written inline: one coroutine layer less per message.
        try:
            req = v.send_request(
                sender=request.sender,
                recipient=request.recipient,
                message_id_=request.message_id,
                via_=request.via,
                dry_run=request.dry_run,
                at_unix_ms=request.at_unix_ms,
                allow_client_time=self._allow_time,
            )
            decision = await self._gate.can_send(req, context.time_remaining())
        except InvalidArgument as err:
            await abort_invalid(context, err)
            raise AssertionError("unreachable: abort raises") from err
        except BackendError as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"redis unavailable: {err}")
            raise AssertionError("unreachable: abort raises") from err
        return decision_pb(decision)

    @_rpc
    async def CanSendBatch(
        self, request: pb.CanSendBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.CanSendBatchResponse:
        if len(request.requests) > v.MAX_BATCH:
            raise InvalidArgument("requests", f"more than {v.MAX_BATCH} requests in one batch")
        reqs = [self._send_request(r, f"requests[{i}].") for i, r in enumerate(request.requests)]
        results = await self._gate.can_send_batch(reqs, context.time_remaining())
        return pb.CanSendBatchResponse(responses=[decision_pb(d) for d in results])

    async def CanSendStream(
        self, requests: AsyncIterator[pb.CanSendRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.CanSendResponse]:
        """One answer per request, in request order. The first request goes out at once;
        those that arrive while a round trip is out are decided together in the next one,
        as a CanSendBatch is (one call per sender deciding its messages in stream order,
        the senders pipelined): a busy stream costs a batch's CPU per message, not a
        unary call's. Reading runs ahead of deciding by at most STREAM_WINDOW requests."""
        pending: list[SendRequest] = []
        arrived = asyncio.Event()  # pending has requests, or reading ended
        room = asyncio.Event()  # pending has room again
        answers: asyncio.Queue[list[SendDecision] | None] = asyncio.Queue(2)
        failure: list[InvalidArgument] = []
        reading = True

        async def read() -> None:
            nonlocal reading
            i = 0
            try:
                async for r in requests:
                    pending.append(self._send_request(r, f"requests[{i}]."))
                    arrived.set()
                    i += 1
                    while len(pending) >= STREAM_WINDOW:  # bounded: the decider drains it
                        room.clear()
                        await room.wait()
            except InvalidArgument as err:
                failure.append(err)
            finally:
                reading = False
                arrived.set()

        async def decide() -> None:
            gate = self._gate
            try:
                while True:
                    if not pending:
                        if not reading:
                            return
                        arrived.clear()
                        await arrived.wait()
                        continue
                    batch = pending[:STREAM_WINDOW]
                    del pending[:STREAM_WINDOW]
                    room.set()
                    remaining = context.time_remaining()
                    if len(batch) == 1:
                        results = [await gate.can_send(batch[0], remaining)]
                    else:
                        results = await gate.can_send_batch(batch, remaining)
                    await answers.put(results)
            finally:
                await answers.put(None)

        reader = asyncio.ensure_future(read())
        decider = asyncio.ensure_future(decide())
        try:
            while (results := await answers.get()) is not None:
                for decision in results:
                    yield decision_pb(decision)
            await decider  # its error, if it failed, ends the stream
            if failure:
                await abort_invalid(context, failure[0])
        finally:
            reader.cancel()
            decider.cancel()

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

    @_rpc
    async def RecordFeedback(
        self, request: pb.RecordFeedbackRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordFeedbackResponse:
        reporter = v.account_id(request.reporter, "reporter")
        subject = v.account_id(request.subject, "subject")
        v.distinct(reporter, subject, "subject", "reporter")
        kind = v.enum(FeedbackKind, request.kind, "kind")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        quality = await self._gate.feedback(
            reporter, subject, kind, at_ms, context.time_remaining()
        )
        return pb.RecordFeedbackResponse(quality=int(quality))  # type: ignore[arg-type]

    @_rpc
    async def RecordOptIn(
        self, request: pb.RecordOptInRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecordOptInResponse:
        business = v.account_id(request.business, "business")
        user = v.account_id(request.user, "user")
        v.distinct(business, user, "user", "business")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        await self._gate.opt_in(business, user, request.opted_in, at_ms, context.time_remaining())
        return pb.RecordOptInResponse()

    @_rpc
    async def RequestException(
        self, request: pb.RequestExceptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RequestExceptionResponse:
        account = v.account_id(request.account, "account")
        reason = v.enum(ExceptionReason, request.reason, "reason")
        note = v.note(request.note, "note")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        rid, state = await self._admin.request_exception(
            account, reason, note, at_ms, context.time_remaining()
        )
        return pb.RequestExceptionResponse(request_id=rid, state=int(state))  # type: ignore[arg-type]

    @_rpc
    async def CheckRegistration(
        self, request: pb.CheckRegistrationRequest, context: grpc.aio.ServicerContext
    ) -> pb.CheckRegistrationResponse:
        account = v.account_id(request.account, "account")
        identifiers = evasion.parse(list(request.identifiers))
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        decision, matched = await self._admin.check_registration(
            account, identifiers, at_ms, context.time_remaining()
        )
        return pb.CheckRegistrationResponse(
            decision=int(decision),  # type: ignore[arg-type]
            matched_banned_accounts=matched,
        )


class SendGateAdminService(pb_grpc.SendGateAdminServicer):
    """sendgate.v1.SendGateAdmin: trust-and-safety tools."""

    def __init__(self, admin: Admin, events: EventFeed, allow_client_time: bool) -> None:
        self._admin = admin
        self._events = events
        self._allow_time = allow_client_time

    @_rpc
    async def UpsertAccount(
        self, request: pb.UpsertAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertAccountResponse:
        account = v.account_id(request.account, "account")
        kind = v.enum(AccountKind, request.kind, "kind")
        v.unix_ms(request.registered_at, "registered_at")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        view = await self._admin.upsert_account(
            account, kind, request.business_verified, request.identity_verified,
            request.registered_at, at_ms, context.time_remaining(),
        )  # fmt: skip
        return pb.UpsertAccountResponse(account=account_pb(view))

    @_rpc
    async def GetAccount(
        self, request: pb.GetAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetAccountResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        view, exceptions = await self._admin.get_account(account, at_ms, context.time_remaining())
        return pb.GetAccountResponse(account=account_pb(view, exceptions))

    @_rpc
    async def EvaluateTier(
        self, request: pb.EvaluateTierRequest, context: grpc.aio.ServicerContext
    ) -> pb.EvaluateTierResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        view = await self._admin.evaluate_tier(account, at_ms, context.time_remaining())
        return pb.EvaluateTierResponse(
            tier_limit=view.usage.tier_limit,
            tier_index=view.tier_index,
            changed=any(e.type == "tier_changed" for e in view.events),
            reasons=list(view.reasons),
            usage=usage_pb(view.usage),
        )

    @_rpc
    async def ReviewException(
        self, request: pb.ReviewExceptionRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReviewExceptionResponse:
        rid = v.request_id(request.request_id, "request_id")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        if request.approve:
            if request.extra_allowance <= 0:
                raise InvalidArgument("extra_allowance", "an approval needs a positive allowance")
            # Against the request's time, else this host's clock: a typo'd expiry in the
            # past (or in seconds) would approve an exception that is already over.
            v.future_ms(request.expires_at, at_ms or wall_ms(), "expires_at")
        extra, expires = (
            (request.extra_allowance, request.expires_at) if request.approve else (0, 0)
        )
        try:
            record = await self._admin.review_exception(
                rid, request.approve, extra, expires, at_ms, context.time_remaining()
            )  # fmt: skip
        except NotFound as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        except Conflict as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        return pb.ReviewExceptionResponse(exception=exception_pb(record))

    @_rpc
    async def ListExceptions(
        self, request: pb.ListExceptionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListExceptionsResponse:
        # No state (0): every state (SPEC §2).
        state = v.enum(ExceptionState, request.state, "state") if request.state else None
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        records = await self._admin.list_exceptions(state, at_ms, context.time_remaining())
        return pb.ListExceptionsResponse(exceptions=[exception_pb(x) for x in records])

    @_rpc
    async def BanAccount(
        self, request: pb.BanAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.BanAccountResponse:
        account = v.account_id(request.account, "account")
        reason = v.note(request.reason, "reason")
        identifiers = evasion.parse(list(request.identifiers))
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        try:
            await self._admin.ban(account, reason, identifiers, at_ms, context.time_remaining())
        except NoHmacKey as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
        return pb.BanAccountResponse()

    @_rpc
    async def UnbanAccount(
        self, request: pb.UnbanAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnbanAccountResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        await self._admin.unban(account, at_ms, context.time_remaining())
        return pb.UnbanAccountResponse()

    @_rpc
    async def ListLinkedAccounts(
        self, request: pb.ListLinkedAccountsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListLinkedAccountsResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        links = await self._admin.linked.list_linked(
            account, at_ms, Deadline(context.time_remaining())
        )
        return pb.ListLinkedAccountsResponse(links=[linked_pb(x) for x in links])

    @_rpc
    async def ForgetAccount(
        self, request: pb.ForgetAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgetAccountResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        n = await self._admin.linked.forget(account, at_ms, Deadline(context.time_remaining()))
        return pb.ForgetAccountResponse(forgotten=n)

    @_rpc
    async def ClearReview(
        self, request: pb.ClearReviewRequest, context: grpc.aio.ServicerContext
    ) -> pb.ClearReviewResponse:
        account = v.account_id(request.account, "account")
        at_ms = v.client_time(request.at_unix_ms, self._allow_time)
        cleared = await self._admin.linked.clear_review(
            account, at_ms, Deadline(context.time_remaining())
        )
        return pb.ClearReviewResponse(cleared=cleared)

    @_rpc
    async def ListEvents(
        self, request: pb.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListEventsResponse:
        after_id = v.stream_id(request.after_id, "after_id")
        limit = v.page_limit(request.limit, "limit")
        kinds = v.event_kinds(list(request.kinds), "kinds")
        v.client_time(request.at_unix_ms, self._allow_time)  # checked like every request's
        events, next_id = await self._events.page(after_id, limit, kinds, context.time_remaining())
        return pb.ListEventsResponse(events=[event_pb(e) for e in events], next_id=next_id)
