"""Typed results returned by the clients (plain dataclasses, enum names as strings)."""

from __future__ import annotations

from dataclasses import dataclass

from sendgate.v1 import sendgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class Usage:
    used: int
    limit: int
    remaining: int
    resets_at: int
    username_used: int
    username_limit: int
    tier_limit: int
    unique_users_24h: int
    quality: str
    status: str
    flags: tuple[str, ...]

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
            quality=pb.Quality.Name(u.quality),
            status=pb.AccountStatus.Name(u.status),
            flags=tuple(pb.Flag.Name(f) for f in u.flags),
        )


@dataclass(frozen=True, slots=True)
class CanSendResult:
    decision: str  # "ALLOW" or "DENY"
    reason: str  # "REASON_UNSPECIFIED" when allowed without a rule
    counted: bool
    usage: Usage
    warning: str  # "NONE", "APPROACHING", "AT_LIMIT"
    retry_after_ms: int
    duplicate: bool
    degraded: bool

    @property
    def allowed(self) -> bool:
        return self.decision == "ALLOW"

    @classmethod
    def from_pb(cls, r: pb.CanSendResponse) -> CanSendResult:
        return cls(
            decision=pb.Decision.Name(r.decision),
            reason=pb.Reason.Name(r.reason),
            counted=r.counted,
            usage=Usage.from_pb(r.usage),
            warning=pb.Warning.Name(r.warning),
            retry_after_ms=r.retry_after_ms,
            duplicate=r.duplicate,
            degraded=r.degraded,
        )
