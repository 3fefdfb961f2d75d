"""Policy numbers rendered once as Lua arguments (pure; no Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from sendgate.config import Settings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class QuotaParams:
    """The monthly-quota numbers a decision script needs."""

    personal_monthly: int
    business_monthly: int
    username_monthly: int
    warn_bp: int
    window_ms: int
    idempotency_ms: int
    enforce: bool
    biz: tuple[bytes, ...] = ()

    @classmethod
    def from_settings(cls, s: Settings) -> QuotaParams:
        lim = s.limits
        return cls(
            personal_monthly=lim.personal_monthly,
            business_monthly=lim.business_monthly,
            username_monthly=lim.username_monthly,
            warn_bp=round(lim.warn_ratio * 10_000),
            window_ms=lim.conversation_window_days * DAY_MS,
            idempotency_ms=s.idempotency_hours * HOUR_MS,
            enforce=s.enforce,
            # Constant per process: encoded once instead of on every call.
            biz=tuple(str(v).encode() for v in biz_args(s)),
        )

    def limit_args(self) -> list[str | int | bytes]:
        return [self.personal_monthly, self.business_monthly, self.username_monthly]


def biz_args(s: Settings) -> tuple[str | int, ...]:
    """The business and bulk configuration arguments parsed by biz.lua parse_biz."""
    b, q = s.business, s.quality
    return (
        ",".join(str(t) for t in b.tiers),
        b.flagged_downgrade_days * DAY_MS,
        q.window_days * DAY_MS,
        q.recent_hours * HOUR_MS,
        round(q.recent_weight * 100),
        round(q.low_rate * 10_000),
        round(q.medium_rate * 10_000),
        q.min_sample,
        q.surge_per_hour,
        round(q.surge_limit_factor * 10_000),
        b.evaluation_interval_minutes * 60_000,
        b.starting_tier_high_quality_conversations,
        b.identity_verification_from_tier,
        b.customer_service_window_hours * HOUR_MS,
        round(b.upgrade_fraction * 10_000),
        q.min_feedback,
        *bulk_args(s),
    )


_ACTIONS = {"flag": 0, "throttle": 1, "deny": 2}


def bulk_args(s: Settings) -> tuple[int, ...]:
    """The 15 bulk-detection arguments parsed by biz.lua parse_biz (after the 16 above)."""
    b = s.bulk
    return (
        1 if b.enabled else 0,
        _ACTIONS[b.action],
        round(b.threshold * 10_000),
        round(b.bias * 1000),
        round(b.weight_new_per_minute * 1000),
        round(b.weight_new_per_hour * 1000),
        round(b.weight_unreplied_share * 1000),
        round(b.weight_early_burst * 1000),
        round(b.weight_negative_feedback * 1000),
        round(b.weight_regularity * 1000),
        round(b.throttle_factor * 10_000),
        b.flag_period_days * DAY_MS,
        b.burst_new_per_hour,
        b.early_burst_hours * HOUR_MS,
        b.min_messages,
    )
