"""Typed results of the SendGate service (frozen dataclasses; enums are `StrEnum`s).

Times are ints of Unix milliseconds (UTC), as on the wire.
"""

from __future__ import annotations

from dataclasses import dataclass

from sendgate.client._enums import (
    AccountStatus,
    Decision,
    ExceptionState,
    Flag,
    LimitWarning,
    Quality,
    Reason,
    from_pb,
)
from sendgate.v1 import sendgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class Usage:
    """An account's monthly quota; the business fields are zero/unspecified for a
    personal account (see `is_business`)."""

    used: int
    limit: int
    remaining: int
    resets_at: int  # Unix ms: the start of next month, when `used` returns to 0
    username_used: int
    username_limit: int
    tier_limit: int  # business only; 0 = unlimited
    unique_users_24h: int
    quality: Quality
    status: AccountStatus
    flags: tuple[Flag, ...]
    # New conversations opened today under a daily limit (review, a young account's
    # ramp) and that limit; None when no daily limit applies (0 = replies only).
    new_conversations_today: int = 0
    new_conversations_limit: int | None = None

    @property
    def is_business(self) -> bool:
        # The sidecar fills quality (HIGH/MEDIUM/LOW) for business accounts only.
        return self.quality is not Quality.QUALITY_UNSPECIFIED

    @classmethod
    def from_pb(cls, u: pb.Usage) -> Usage:
        return cls(
            used=u.used,
            limit=u.limit,
            remaining=u.remaining,
            resets_at=u.resets_at,
            username_used=u.username_used,
            username_limit=u.username_limit,
            tier_limit=u.tier_limit,
            unique_users_24h=u.unique_users_24h,
            quality=from_pb(Quality, pb.Quality, u.quality),
            status=from_pb(AccountStatus, pb.AccountStatus, u.status),
            flags=tuple(from_pb(Flag, pb.Flag, f) for f in u.flags if f in pb.Flag.values()),
            new_conversations_today=u.new_conversations_today,
            new_conversations_limit=(
                u.new_conversations_limit if u.HasField("new_conversations_limit") else None
            ),
        )


# What a degraded answer carries: nothing is known about the sender's usage.
UNKNOWN_USAGE = Usage.from_pb(pb.Usage())


@dataclass(frozen=True, slots=True)
class CanSendResult:
    """The answer to one CanSend. A denial is a normal answer, not an exception."""

    decision: Decision  # ALLOW or DENY
    reason: Reason  # REASON_UNSPECIFIED when allowed without a rule
    counted: bool  # counts against the sender's monthly unreplied quota
    usage: Usage
    warning: LimitWarning
    retry_after_ms: int  # when denied: how long until the denial may lift
    duplicate: bool  # a replay of a known message_id: the original answer
    degraded: bool  # decided without Redis (the sidecar's or the client's fail-open)
    # The client could not reach the sidecar and answered ALLOW itself (fail_open=True).
    sidecar_unavailable: bool = False

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @classmethod
    def from_pb(cls, r: pb.CanSendResponse) -> CanSendResult:
        return cls(
            decision=from_pb(Decision, pb.Decision, r.decision),
            reason=from_pb(Reason, pb.Reason, r.reason),
            counted=r.counted,
            usage=Usage.from_pb(r.usage),
            warning=from_pb(LimitWarning, pb.Warning, r.warning),
            retry_after_ms=r.retry_after_ms,
            duplicate=r.duplicate,
            degraded=r.degraded,
        )

    @classmethod
    def fail_open(cls) -> CanSendResult:
        """The client's own ALLOW when the sidecar did not answer (nothing counted)."""
        return cls(
            decision=Decision.ALLOW,
            reason=Reason.REASON_UNSPECIFIED,
            counted=False,
            usage=UNKNOWN_USAGE,
            warning=LimitWarning.NONE,
            retry_after_ms=0,
            duplicate=False,
            degraded=True,
            sidecar_unavailable=True,
        )


@dataclass(frozen=True, slots=True)
class ExceptionTicket:
    """A filed message-limit exception request, as RequestException answers it."""

    request_id: str
    state: ExceptionState

    @classmethod
    def from_pb(cls, r: pb.RequestExceptionResponse) -> ExceptionTicket:
        return cls(r.request_id, from_pb(ExceptionState, pb.ExceptionState, r.state))


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """CheckRegistration's answer: ALLOW, REVIEW or DENY, and whom it matched."""

    decision: Decision
    matched_banned_accounts: tuple[str, ...]

    @classmethod
    def from_pb(cls, r: pb.CheckRegistrationResponse) -> RegistrationResult:
        return cls(from_pb(Decision, pb.Decision, r.decision), tuple(r.matched_banned_accounts))
