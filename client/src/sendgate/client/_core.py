"""What the sync and async clients share: every call's request and result parsing.

A call is a `Call`: the RPC name, the request message, and how to turn the
response into a typed result. The clients differ only in how they send it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

from sendgate.client._results import CanSendResult, Usage
from sendgate.v1 import sendgate_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:50051"
# Generous for a loopback sidecar; chat servers should pass their own per call.
DEFAULT_TIMEOUT_S = 1.0

T = TypeVar("T")
SendTuple = tuple[str, str, str]


class SendOptions(TypedDict, total=False):
    via: str  # "PHONE_NUMBER" (default) or "USERNAME"
    dry_run: bool
    at_unix_ms: int


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    request: Any
    parse: Callable[[Any], T]


def send_pb(sender: str, recipient: str, message_id: str, opts: SendOptions) -> pb.CanSendRequest:
    return pb.CanSendRequest(
        sender=sender,
        recipient=recipient,
        message_id=message_id,
        via=pb.Via.Value(opts.get("via", "PHONE_NUMBER")),
        dry_run=opts.get("dry_run", False),
        at_unix_ms=opts.get("at_unix_ms", 0),
    )


def can_send(
    sender: str, recipient: str, message_id: str, opts: SendOptions
) -> Call[CanSendResult]:
    return Call("CanSend", send_pb(sender, recipient, message_id, opts), CanSendResult.from_pb)


def can_send_batch(
    messages: Iterable[SendTuple | pb.CanSendRequest], opts: SendOptions
) -> Call[list[CanSendResult]]:
    reqs = [m if isinstance(m, pb.CanSendRequest) else send_pb(*m, opts) for m in messages]
    return Call(
        "CanSendBatch",
        pb.CanSendBatchRequest(requests=reqs),
        lambda r: [CanSendResult.from_pb(x) for x in r.responses],
    )


def record_reply(replier: str, replied_to: str, at_unix_ms: int) -> Call[int]:
    req = pb.RecordReplyRequest(replier=replier, replied_to=replied_to, at_unix_ms=at_unix_ms)
    return Call("RecordReply", req, lambda r: int(r.refunded))


def get_usage(account: str, at_unix_ms: int) -> Call[Usage]:
    req = pb.GetUsageRequest(account=account, at_unix_ms=at_unix_ms)
    return Call("GetUsage", req, lambda r: Usage.from_pb(r.usage))
