"""Script replies to domain objects (pure; no Redis)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sendgate.domain import (
    AccountKind,
    AccountStatus,
    AccountView,
    Decision,
    Event,
    ExceptionReason,
    ExceptionRecord,
    ExceptionState,
    Flag,
    Quality,
    Reason,
    SendDecision,
    Usage,
    Warning,
)


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def events(raw: Sequence[Any], start: int) -> tuple[Event, ...]:
    """Decode biz.lua flat_events starting at raw[start] (the count)."""
    if start >= len(raw):
        return ()
    n, i, out = int(raw[start]), start + 1, []
    for _ in range(n):
        kind, nfields = text(raw[i]), int(raw[i + 1])
        vals = [text(v) for v in raw[i + 2 : i + 2 + 2 * nfields]]
        out.append(Event(kind, tuple(zip(vals[::2], vals[1::2], strict=True))))
        i += 2 + 2 * nfields
    return tuple(out)


def flags(bits: int) -> tuple[Flag, ...]:
    return tuple(f for f in Flag if bits & (1 << (f.value - 1)))


def usage(raw: Sequence[Any], at: int) -> Usage:
    """Usage from the 11 values at raw[at:] (used … flag bits)."""
    used, limit, resets_at, uused, ulimit, kind, tl, open_, q, st, bits = (
        int(v) for v in raw[at : at + 11]
    )
    return Usage(
        used, limit, resets_at, uused, ulimit, AccountKind(kind), tl, open_,
        Quality(q), AccountStatus(st), flags(bits),
    )  # fmt: skip


def decision(raw: Sequence[Any]) -> SendDecision:
    d, r, c, used, limit, resets_at, uused, ulimit, w, retry, dup, kind = (int(v) for v in raw[:12])
    tl, open_, q, st, bits = (int(v) for v in raw[12:17])
    return SendDecision(
        decision=Decision(d),
        reason=Reason(r),
        counted=bool(c),
        usage=Usage(
            used,
            limit,
            resets_at,
            uused,
            ulimit,
            AccountKind(kind),
            tl,
            open_,
            Quality(q),
            AccountStatus(st),
            flags(bits),
        ),
        warning=Warning(w),
        retry_after_ms=retry,
        duplicate=bool(dup),
        events=events(raw, 17),
    )


def account_view(account: str, raw: Sequence[Any]) -> AccountView:
    """biz.lua account_view: usage (6 + 5 values), 4 extras, reasons, score, features, events."""
    bv, iv, registered_at, tier_index, nreasons = (int(v) for v in raw[11:16])
    reasons = tuple(text(v) for v in raw[16 : 16 + nreasons])
    at = 16 + nreasons
    score, nfeatures = float(text(raw[at])), int(raw[at + 1])
    names = [text(v) for v in raw[at + 2 : at + 2 + 2 * nfeatures : 2]]
    values = [float(text(v)) for v in raw[at + 3 : at + 2 + 2 * nfeatures : 2]]
    return AccountView(
        account=account,
        usage=usage(raw, 0),
        business_verified=bool(bv),
        identity_verified=bool(iv),
        registered_at=registered_at,
        tier_index=tier_index,
        reasons=reasons,
        bulk_score=score,
        features=tuple(zip(names, values, strict=True)),
        banned=bool(int(raw[at + 2 + 2 * nfeatures])),
        ban_reason=text(raw[at + 3 + 2 * nfeatures]),
        events=events(raw, at + 4 + 2 * nfeatures),
    )


def exception_record(request_id: str, flat: Sequence[Any], now_ms: int) -> ExceptionRecord:
    f = {text(k): text(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}
    state = ExceptionState(int(f["state"]))
    expires = int(f.get("expires", 0))
    if state is ExceptionState.APPROVED and expires <= now_ms:
        state = ExceptionState.EXPIRED
    return ExceptionRecord(
        request_id=request_id,
        account=f["account"],
        reason=ExceptionReason(int(f["reason"])),
        note=f.get("note", ""),
        state=state,
        extra_allowance=int(f.get("extra", 0)),
        expires_at=expires,
        requested_at=int(f.get("requested_at", 0)),
        reviewed_at=int(f.get("reviewed_at", 0)),
    )


def exception_list(raw: Sequence[Any], now_ms: int) -> list[ExceptionRecord]:
    out, i = [], 0
    while i < len(raw):
        rid, n = text(raw[i]), int(raw[i + 1])
        out.append(exception_record(rid, raw[i + 2 : i + 2 + n], now_ms))
        i += 2 + n
    return out
