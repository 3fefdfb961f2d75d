"""Domain objects to wire messages, kept out of the handlers."""

from __future__ import annotations

from collections.abc import Sequence

from sendgate.domain import (
    AccountKind,
    AccountView,
    ExceptionRecord,
    LinkedAccount,
    LoggedEvent,
    SendDecision,
    Usage,
)
from sendgate.v1 import sendgate_pb2 as pb


def usage_pb(u: Usage) -> pb.Usage:
    msg = pb.Usage(
        used=u.used,
        limit=u.limit,
        remaining=u.remaining,
        resets_at=u.resets_at,
        username_used=u.username_used,
        username_limit=u.username_limit,
        status=int(u.status),  # type: ignore[arg-type]
        flags=[int(f) for f in u.flags],  # type: ignore[misc]
        new_conversations_today=u.new_conversations_today,
    )
    if u.new_conversations_limit is not None:
        msg.new_conversations_limit = u.new_conversations_limit
    if u.kind is AccountKind.BUSINESS:
        msg.tier_limit = u.tier_limit
        msg.unique_users_24h = u.unique_users_24h
        msg.quality = int(u.quality)  # type: ignore[assignment]
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


def exception_pb(x: ExceptionRecord) -> pb.ExceptionRequest:
    return pb.ExceptionRequest(
        request_id=x.request_id,
        account=x.account,
        reason=int(x.reason),  # type: ignore[arg-type]
        note=x.note,
        state=int(x.state),  # type: ignore[arg-type]
        extra_allowance=x.extra_allowance,
        expires_at=x.expires_at,
        requested_at=x.requested_at,
        reviewed_at=x.reviewed_at,
    )


def account_pb(v: AccountView, exceptions: Sequence[ExceptionRecord] = ()) -> pb.Account:
    return pb.Account(
        account=v.account,
        kind=int(v.usage.kind),  # type: ignore[arg-type]
        business_verified=v.business_verified,
        identity_verified=v.identity_verified,
        registered_at=v.registered_at,
        usage=usage_pb(v.usage),
        banned=v.banned,
        ban_reason=v.ban_reason,
        exceptions=[exception_pb(x) for x in exceptions],
        tier_index=v.tier_index,
        bulk_score=v.bulk_score,
        features=dict(v.features),
        under_review=v.under_review,
        review_daily_limit=v.review_daily_limit if v.under_review else 0,
        linked_to_banned=list(v.linked_to_banned),
    )


def linked_pb(x: LinkedAccount) -> pb.LinkedAccount:
    return pb.LinkedAccount(
        account=x.account, shared_kinds=list(x.shared_kinds), strong=x.strong, banned=x.banned
    )


def event_pb(e: LoggedEvent) -> pb.Event:
    return pb.Event(
        id=e.id, kind=e.kind, account=e.account, at_unix_ms=e.at_ms, attributes=dict(e.attributes)
    )
