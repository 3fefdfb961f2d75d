"""The SendGate service's calls: request messages and result parsing (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, TypedDict

from sendgate.client._core import Call
from sendgate.client._enums import ExceptionReason, FeedbackKind, Quality, Via, from_pb, to_pb
from sendgate.client._results import CanSendResult, ExceptionTicket, RegistrationResult, Usage
from sendgate.v1 import sendgate_pb2 as pb


class SendOptions(TypedDict, total=False):
    """Options of the CanSend calls, applied to every message that does not set its own."""

    via: Via | str  # PHONE_NUMBER (default) or USERNAME (a stricter sub-limit)
    dry_run: bool  # evaluate and report, record nothing
    at_unix_ms: int  # the request's time; needs the sidecar's allow_client_time


class Message(NamedTuple):
    """One message to decide in a batch or a stream; `None` fields take the call's
    options. A plain `(sender, recipient, message_id)` tuple works too."""

    sender: str
    recipient: str
    message_id: str
    via: Via | str | None = None
    dry_run: bool | None = None


Sendable = Message | tuple[str, str, str] | pb.CanSendRequest


def send_pb(m: Sendable, opts: SendOptions) -> pb.CanSendRequest:
    """The request for one message (a CanSendRequest passes through unchanged)."""
    if isinstance(m, pb.CanSendRequest):
        return m
    msg = m if isinstance(m, Message) else Message(*m)
    via = msg.via if msg.via is not None else opts.get("via", Via.PHONE_NUMBER)
    dry = msg.dry_run if msg.dry_run is not None else opts.get("dry_run", False)
    return pb.CanSendRequest(
        sender=msg.sender,
        recipient=msg.recipient,
        message_id=msg.message_id,
        via=to_pb(Via, pb.Via, via, "via"),  # type: ignore[arg-type]
        dry_run=dry,
        at_unix_ms=opts.get("at_unix_ms", 0),
    )


def can_send(message: Sendable, opts: SendOptions) -> Call[CanSendResult]:
    return Call("CanSend", send_pb(message, opts), CanSendResult.from_pb, CanSendResult.fail_open)


def can_send_batch(messages: Iterable[Sendable], opts: SendOptions) -> Call[list[CanSendResult]]:
    reqs = [send_pb(m, opts) for m in messages]

    def parse(r: pb.CanSendBatchResponse) -> list[CanSendResult]:
        return [CanSendResult.from_pb(x) for x in r.responses]

    return Call(
        "CanSendBatch",
        pb.CanSendBatchRequest(requests=reqs),
        parse,
        lambda: [CanSendResult.fail_open() for _ in reqs],
    )


def record_reply(replier: str, replied_to: str, at_unix_ms: int) -> Call[int]:
    req = pb.RecordReplyRequest(replier=replier, replied_to=replied_to, at_unix_ms=at_unix_ms)
    return Call("RecordReply", req, lambda r: int(r.refunded))


def record_feedback(
    reporter: str, subject: str, kind: FeedbackKind | str, at_unix_ms: int
) -> Call[Quality]:
    req = pb.RecordFeedbackRequest(
        reporter=reporter,
        subject=subject,
        kind=to_pb(FeedbackKind, pb.FeedbackKind, kind, "kind"),  # type: ignore[arg-type]
        at_unix_ms=at_unix_ms,
    )
    return Call("RecordFeedback", req, lambda r: from_pb(Quality, pb.Quality, r.quality))


def record_opt_in(business: str, user: str, opted_in: bool, at_unix_ms: int) -> Call[None]:
    req = pb.RecordOptInRequest(
        business=business, user=user, opted_in=opted_in, at_unix_ms=at_unix_ms
    )
    return Call("RecordOptIn", req, lambda r: None)


def get_usage(account: str, at_unix_ms: int) -> Call[Usage]:
    req = pb.GetUsageRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("GetUsage", req, lambda r: Usage.from_pb(r.usage))


def request_exception(
    account: str, reason: ExceptionReason | str, note: str, at_unix_ms: int
) -> Call[ExceptionTicket]:
    req = pb.RequestExceptionRequest(
        account=account,
        reason=to_pb(ExceptionReason, pb.ExceptionReason, reason, "reason"),  # type: ignore[arg-type]
        note=note,
        at_unix_ms=at_unix_ms,
    )
    return Call("RequestException", req, ExceptionTicket.from_pb)


def check_registration(
    account: str, identifiers: Sequence[str], at_unix_ms: int
) -> Call[RegistrationResult]:
    if isinstance(identifiers, str):  # a lone string would be split into characters
        raise TypeError("identifiers: a sequence of `kind:value` strings, not one string")
    req = pb.CheckRegistrationRequest(
        account=account, identifiers=list(identifiers), at_unix_ms=at_unix_ms
    )
    return Call("CheckRegistration", req, RegistrationResult.from_pb)
