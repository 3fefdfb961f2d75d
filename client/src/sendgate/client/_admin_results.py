"""Typed results of the SendGateAdmin service (frozen dataclasses). Times are Unix ms."""

from __future__ import annotations

from dataclasses import dataclass

from sendgate.client._enums import AccountKind, ExceptionReason, ExceptionState, from_pb
from sendgate.client._results import Usage
from sendgate.v1 import sendgate_pb2 as pb


@dataclass(frozen=True, slots=True)
class LimitException:
    """A message-limit exception request and its review (the proto's ExceptionRequest)."""

    request_id: str
    account: str
    reason: ExceptionReason
    note: str
    state: ExceptionState
    extra_allowance: int
    expires_at: int  # 0 = not set
    requested_at: int
    reviewed_at: int  # 0 = not reviewed yet

    @classmethod
    def from_pb(cls, x: pb.ExceptionRequest) -> LimitException:
        return cls(
            request_id=x.request_id,
            account=x.account,
            reason=from_pb(ExceptionReason, pb.ExceptionReason, x.reason),
            note=x.note,
            state=from_pb(ExceptionState, pb.ExceptionState, x.state),
            extra_allowance=x.extra_allowance,
            expires_at=x.expires_at,
            requested_at=x.requested_at,
            reviewed_at=x.reviewed_at,
        )


@dataclass(frozen=True, slots=True)
class Account:
    """What the sidecar knows about one account."""

    account: str
    kind: AccountKind
    business_verified: bool
    identity_verified: bool
    registered_at: int  # 0 = unknown
    usage: Usage
    banned: bool
    ban_reason: str
    exceptions: tuple[LimitException, ...]
    bulk_score: float  # in [0, 1]
    features: dict[str, float]
    tier_index: int  # index into business.tiers
    under_review: bool = False
    review_daily_limit: int = 0  # new conversations a day while under review
    linked_to_banned: tuple[str, ...] = ()  # the banned accounts it is linked to

    @classmethod
    def from_pb(cls, a: pb.Account) -> Account:
        return cls(
            account=a.account,
            kind=from_pb(AccountKind, pb.AccountKind, a.kind),
            business_verified=a.business_verified,
            identity_verified=a.identity_verified,
            registered_at=a.registered_at,
            usage=Usage.from_pb(a.usage),
            banned=a.banned,
            ban_reason=a.ban_reason,
            exceptions=tuple(LimitException.from_pb(x) for x in a.exceptions),
            bulk_score=a.bulk_score,
            features=dict(a.features),
            tier_index=a.tier_index,
            under_review=a.under_review,
            review_daily_limit=a.review_daily_limit,
            linked_to_banned=tuple(a.linked_to_banned),
        )


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """An account sharing identifiers (kinds only, never values) with another."""

    account: str
    shared_kinds: tuple[str, ...]
    strong: bool  # a strong kind is shared (a ban of one links the other)
    banned: bool

    @classmethod
    def from_pb(cls, x: pb.LinkedAccount) -> LinkedAccount:
        return cls(x.account, tuple(x.shared_kinds), x.strong, x.banned)


@dataclass(frozen=True, slots=True)
class TierEvaluation:
    """EvaluateTier's answer: the tier now, whether it moved, and why."""

    tier_limit: int  # 0 = unlimited
    tier_index: int
    changed: bool
    reasons: tuple[str, ...]
    usage: Usage

    @classmethod
    def from_pb(cls, r: pb.EvaluateTierResponse) -> TierEvaluation:
        return cls(r.tier_limit, r.tier_index, r.changed, tuple(r.reasons), Usage.from_pb(r.usage))


@dataclass(frozen=True, slots=True)
class Event:
    """One enforcement event from the sidecars' stream."""

    id: str  # `<ms>-<seq>`, ordered; pass it back as `after_id`
    kind: str  # limit_hit, flag_raised, ban, …
    account: str  # "" when none
    at_unix_ms: int
    attributes: dict[str, str]

    @classmethod
    def from_pb(cls, e: pb.Event) -> Event:
        return cls(e.id, e.kind, e.account, e.at_unix_ms, dict(e.attributes))


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of ListEvents; `next_id` is the `after_id` of the next page."""

    events: tuple[Event, ...]
    next_id: str

    @classmethod
    def from_pb(cls, r: pb.ListEventsResponse) -> EventPage:
        return cls(tuple(Event.from_pb(e) for e in r.events), r.next_id)
