"""Time units, and the quota numbers the gate reports (pure; no Redis).

The functions no longer receive these as arguments: `sendgate.store.library` builds
every policy constant into the library's source.
"""

from __future__ import annotations

from dataclasses import dataclass

from sendgate.config import Settings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class QuotaParams:
    """The monthly-quota numbers of the configuration (admin.py passes them along)."""

    personal_monthly: int
    business_monthly: int
    username_monthly: int
    warn_bp: int
    window_ms: int
    idempotency_ms: int
    enforce: bool

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
        )
