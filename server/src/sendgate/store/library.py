"""The sendgate Redis Function library, generated from the Lua files and the settings.

The library is `lib.lua`, `review.lua`, `biz.lua`, `decide.lua` and one file per function
(the body of `function(keys, args)`), after a generated prelude: the policy table `cfg` (every
limit, window, ratio, tier, quality threshold and bulk weight of the configuration)
and the month table. An FCALL therefore passes only what belongs to the message.

Its name is `sendgate_<h>`, `h` a hash of the whole generated source: sidecars with
the same code and configuration share one library; a rolling update with another
configuration loads its own beside it (function names carry the same suffix, since
Redis function names are global). Old libraries are pruned by `sendgate.store.prune`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo

from sendgate.config import Settings
from sendgate.store import layout
from sendgate.store.params import DAY_MS, HOUR_MS

LIBRARY_PREFIX = "sendgate_"
# Bytes of the message-id hash in the idempotency record (decide.lua). A false replay
# needs two of one sender's message ids within two days (~50 h) to share the hash: with
# n ids the odds are about n^2 / 2^33, ~1e-6 for a person's 100 messages, 0.05 % for
# 2,000 a day. Bulk senders sending 100,000 a day (n^2 / 2^33 ~ 1) would see a few of
# their messages answered as replays: they are flagged and denied long before.
ID_LEN = 4
# The month table spans these years: the library stays the same whatever the date it
# is built on (a date-dependent table would give every sidecar its own library).
MONTH_Y0, MONTH_Y1 = 2000, 2100
_PARTS = ("lib.lua", "review.lua", "biz.lua", "decide.lua")
_ACTIONS = {"flag": 0, "throttle": 1, "deny": 2}
_LINKED_ACTIONS = {"flag": 0, "restrict": 1, "ban": 2}


@dataclass(frozen=True, slots=True)
class FunctionLibrary:
    """A generated library: its name, its FUNCTION LOAD source, its function names."""

    name: str
    suffix: str
    source: str

    def function(self, fn: str) -> str:
        """The registered name of layout function `fn` in this library."""
        return f"{fn}_{self.suffix}"


def _read(name: str) -> str:
    return (files("sendgate.store") / "lua" / name).read_text(encoding="utf-8")


def _lua(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        # A Lua expression (a division kept in Lua, exactly as the old argument parser).
        return v
    if isinstance(v, tuple):
        return "{" + ", ".join(_lua(x) for x in v) + "}"
    raise TypeError(f"no Lua literal for {v!r}")


def policy(s: Settings) -> dict[str, object]:
    """The `cfg` table: every policy constant the functions use, by name."""
    lim, b, q, k, ev = s.limits, s.business, s.quality, s.bulk, s.ban_evasion
    return {
        "personal": lim.personal_monthly,
        "business": lim.business_monthly,
        "ulimit": lim.username_monthly,
        "warn_bp": round(lim.warn_ratio * 10_000),
        "conv_ms": lim.conversation_window_days * DAY_MS,
        "idem_ms": s.idempotency_hours * HOUR_MS,
        "enforce": s.enforce,
        "id_len": ID_LEN,
        "tiers": tuple(b.tiers),
        "downgrade_ms": b.flagged_downgrade_days * DAY_MS,
        "window_ms": q.window_days * DAY_MS,
        "recent_ms": q.recent_hours * HOUR_MS,
        "recent_weight": f"{round(q.recent_weight * 100)} / 100",
        "low_bp": round(q.low_rate * 10_000),
        "medium_bp": round(q.medium_rate * 10_000),
        "min_sample": q.min_sample,
        "surge": q.surge_per_hour,
        "surge_bp": round(q.surge_limit_factor * 10_000),
        "eval_ms": b.evaluation_interval_minutes * 60_000,
        "hq_needed": b.starting_tier_high_quality_conversations,
        "idv_from": b.identity_verification_from_tier,
        "cs_ms": b.customer_service_window_hours * HOUR_MS,
        "upgrade_bp": round(b.upgrade_fraction * 10_000),
        "min_feedback": q.min_feedback,
        "bulk_on": k.enabled,
        "bulk_action": _ACTIONS[k.action],
        "bulk_threshold": f"{round(k.threshold * 10_000)} / 10000",
        "bias": f"{round(k.bias * 1000)} / 1000",
        "weights": "{"
        + ", ".join(
            f"{round(w * 1000)} / 1000"
            for w in (
                k.weight_new_per_minute,
                k.weight_new_per_hour,
                k.weight_unreplied_share,
                k.weight_early_burst,
                k.weight_negative_feedback,
                k.weight_regularity,
                k.weight_takeover,
            )
        )
        + "}",
        "throttle_bp": round(k.throttle_factor * 10_000),
        "bulk_period_ms": k.flag_period_days * DAY_MS,
        "burst": k.burst_new_per_hour,
        "early_ms": k.early_burst_hours * HOUR_MS,
        "min_messages": k.min_messages,
        # EWMA weight of a finished day: 2 / (N + 1), the usual span-N smoothing.
        "baseline_alpha": f"2 / {k.baseline_days + 1}",
        "takeover_floor": f"{round(k.takeover_floor * 1000)} / 1000",
        "reg_ms": ev.registration_retention_days * DAY_MS,
        "velocity_ms": ev.velocity_window_minutes * 60_000,
        "review_limit": ev.review_daily_limit,
        "linked_action": _LINKED_ACTIONS[ev.linked_action],
        "ramp_on": s.ramp.enabled,
        "ramp_ms": s.ramp.days * DAY_MS,
        "ramp_base": s.ramp.daily_base,
        "ramp_per_day": s.ramp.per_day,
        "ramp_per_reply": s.ramp.per_reply,
    }


@cache
def month_starts(tz_name: str) -> tuple[int, ...]:
    """Unix ms of the first instant of every month from MONTH_Y0-01 to MONTH_Y1-01."""
    tz = ZoneInfo(tz_name)
    firsts = [datetime(y, m, 1, tzinfo=tz) for y in range(MONTH_Y0, MONTH_Y1) for m in range(1, 13)]
    firsts.append(datetime(MONTH_Y1, 1, 1, tzinfo=tz))
    return tuple(int(d.timestamp() * 1000) for d in firsts)


def _prelude(s: Settings) -> str:
    cfg = ",\n".join(f"  {k} = {_lua(v)}" for k, v in policy(s).items())
    starts = ",".join(str(v) for v in month_starts(s.limits.timezone))
    return (
        "-- Generated by sendgate/store/library.py from the configuration: do not edit.\n"
        f"local cfg = {{\n{cfg},\n}}\n"
        f"local MONTH_Y0 = {MONTH_Y0}\n"
        f"local MONTHS = {{{starts}}}\n"
    )


def _fill_replies(src: str, where: str) -> str:
    for name, fields in layout.REPLIES.items():
        src = src.replace(f"{{@{name}@}}", "{" + ", ".join(fields) + "}")
    if "{@" in src:
        raise ValueError(f"{where}: unknown reply layout placeholder")
    return src


def _register(fn: layout.Fn, suffix: str) -> str:
    body = _fill_replies(_read(f"{fn.name}.lua"), fn.name)
    flags = ", ".join(f"'{f}'" for f in fn.flags)
    return (
        f"redis.register_function{{function_name = '{fn.name}_{suffix}', "
        f"flags = {{{flags}}}, callback = function(keys, args)\n"
        f"{layout.lua_binding(fn)}\n{body}\nend}}\n"
    )


def build(s: Settings) -> FunctionLibrary:
    """The library for settings `s` (pure: same code and settings, same library)."""
    shared = _fill_replies("\n".join(_read(p) for p in _PARTS), "prelude")
    # The suffix is unknown until the body is hashed: hash with a placeholder.
    template = "\n".join(
        [_prelude(s), shared, *(_register(fn, "@SFX@") for fn in layout.FUNCTIONS.values())]
    )
    suffix = hashlib.sha256(template.encode()).hexdigest()[:16]
    name = LIBRARY_PREFIX + suffix
    body = template.replace("@SFX@", suffix)
    return FunctionLibrary(name, suffix, f"#!lua name={name}\n{body}")
