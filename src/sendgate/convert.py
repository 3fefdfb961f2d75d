"""Domain objects to wire messages (and back), kept out of the handlers."""

from __future__ import annotations

from sendgate.domain import AccountKind, SendDecision, Usage
from sendgate.v1 import sendgate_pb2 as pb


def usage_pb(u: Usage) -> pb.Usage:
    msg = pb.Usage(
        used=u.used,
        limit=u.limit,
        remaining=u.remaining,
        resets_at=u.resets_at,
        username_used=u.username_used,
        username_limit=u.username_limit,
    )
    if u.kind is AccountKind.BUSINESS:
        msg.status = pb.CONNECTED
    return msg


def decision_pb(d: SendDecision) -> pb.CanSendResponse:
    return pb.CanSendResponse(
        decision=int(d.decision),  # type: ignore[arg-type]
        reason=int(d.reason),  # type: ignore[arg-type]
        counted=d.counted,
        usage=usage_pb(d.usage) if not d.degraded else None,
        warning=int(d.warning),  # type: ignore[arg-type]
        retry_after_ms=d.retry_after_ms,
        duplicate=d.duplicate,
        degraded=d.degraded,
    )
