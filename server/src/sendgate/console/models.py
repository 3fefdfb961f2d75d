"""What the console shows, as plain values (the backend turns admin API replies into these)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UsageInfo:
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
    new_conversations_today: int = 0
    new_conversations_limit: int | None = None  # None: no daily limit applies


@dataclass(frozen=True)
class ExceptionInfo:
    request_id: str
    account: str
    reason: str
    note: str
    state: str
    extra_allowance: int
    expires_at: int
    requested_at: int
    reviewed_at: int


@dataclass(frozen=True)
class AccountInfo:
    account: str
    kind: str
    business_verified: bool
    identity_verified: bool
    registered_at: int
    usage: UsageInfo
    banned: bool
    ban_reason: str
    exceptions: tuple[ExceptionInfo, ...]
    bulk_score: float
    features: tuple[tuple[str, float], ...]
    tier_index: int
    # Held to review_daily_limit new conversations a day until a reviewer clears it.
    under_review: bool
    review_daily_limit: int
    # The banned accounts this one is linked to (the causes of LINKED_TO_BANNED).
    linked_to_banned: tuple[str, ...]


@dataclass(frozen=True)
class TierInfo:
    """EvaluateTier's answer: the tier now and why it moved or stayed."""

    tier_index: int
    tier_limit: int
    changed: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class LinkInfo:
    account: str
    shared_kinds: tuple[str, ...]
    strong: bool
    banned: bool


@dataclass(frozen=True)
class EventInfo:
    id: str
    kind: str
    account: str
    at_unix_ms: int
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def stream_ms(self) -> int:
        """The stream id's time part: when Redis appended it."""
        head = self.id.partition("-")[0]
        return int(head) if head.isdigit() else 0
