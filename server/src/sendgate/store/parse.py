"""Function replies to domain objects (pure; no Redis). Positions come from
`sendgate.store.layout`, the table the Lua replies are generated from."""

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
from sendgate.store.layout import DECISION, USAGE, index


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _events_at(raw: Sequence[Any], start: int) -> tuple[tuple[Event, ...], int]:
    """biz.lua flat_events at raw[start] (the count); returns them and the next index."""
    if start >= len(raw):
        return (), start
    n, i, out = int(raw[start]), start + 1, []
    for _ in range(n):
        kind, nfields = text(raw[i]), int(raw[i + 1])
        vals = [text(v) for v in raw[i + 2 : i + 2 + 2 * nfields]]
        out.append(Event(kind, tuple(zip(vals[::2], vals[1::2], strict=True))))
        i += 2 + 2 * nfields
    return tuple(out), i


def events(raw: Sequence[Any], start: int) -> tuple[Event, ...]:
    """Decode biz.lua flat_events starting at raw[start] (the count)."""
    return _events_at(raw, start)[0]


def _members(enum: Any) -> dict[int, Any]:
    # value -> member by dict: calling an Enum class costs ~10x a dict lookup, and a
    # decision's reply holds six of them.
    return {m.value: m for m in enum}


_DECISIONS: dict[int, Decision] = _members(Decision)
_REASONS: dict[int, Reason] = _members(Reason)
_WARNINGS: dict[int, Warning] = _members(Warning)
_KINDS: dict[int, AccountKind] = _members(AccountKind)
_QUALITIES: dict[int, Quality] = _members(Quality)
_STATUSES: dict[int, AccountStatus] = _members(AccountStatus)
_FLAGS: dict[int, tuple[Flag, ...]] = {}  # bits -> flags, filled as bit patterns appear


def flags(bits: int) -> tuple[Flag, ...]:
    got = _FLAGS.get(bits)
    if got is None:
        got = tuple(f for f in Flag if bits & (1 << (f.value - 1)))
        if len(_FLAGS) < 4096:  # bounded, though only a few patterns exist
            _FLAGS[bits] = got
    return got


_U = index(USAGE)
_D = index(DECISION)


def _daily(limit: int) -> int | None:
    return None if limit < 0 else limit  # Lua: -1 = no daily limit


def _usage(v: Sequence[int], at: dict[str, int]) -> Usage:
    return Usage(
        v[at["used"]], v[at["limit"]], v[at["resets_at"]], v[at["username_used"]],
        v[at["username_limit"]], _KINDS[v[at["kind"]]], v[at["tier_limit"]],
        v[at["unique_users_24h"]], _QUALITIES[v[at["quality"]]], _STATUSES[v[at["status"]]],
        flags(v[at["flags"]]), v[at["new_conversations_today"]],
        _daily(v[at["new_conversations_limit"]]),
    )  # fmt: skip


def usage(raw: Sequence[Any], at: int) -> Usage:
    """Usage from the layout USAGE values at raw[at:]."""
    return _usage([int(v) for v in raw[at : at + len(USAGE)]], _U)


def _decision_at(raw: Sequence[Any], start: int) -> tuple[SendDecision, int]:
    v = [int(x) for x in raw[start : start + len(DECISION)]]
    evs, end = _events_at(raw, start + len(DECISION))
    d = SendDecision(
        decision=_DECISIONS[v[_D["decision"]]],
        reason=_REASONS[v[_D["reason"]]],
        counted=bool(v[_D["counted"]]),
        usage=_usage(v, _D),
        warning=_WARNINGS[v[_D["warning"]]],
        retry_after_ms=v[_D["retry_after"]],
        duplicate=bool(v[_D["duplicate"]]),
        events=evs,
    )
    return d, end


def decision(raw: Sequence[Any]) -> SendDecision:
    """One decision (layout DECISION, then its events)."""
    return _decision_at(raw, 0)[0]


def decisions(raw: Sequence[Any], n: int) -> list[SendDecision]:
    """`n` decisions one after another (send_group)."""
    out, i = [], 0
    for _ in range(n):
        d, i = _decision_at(raw, i)
        out.append(d)
    if i != len(raw):
        raise ValueError(f"send_group reply: {len(raw) - i} values left over")
    return out


def account_view(account: str, raw: Sequence[Any]) -> AccountView:
    """biz.lua account_view: layout USAGE, 4 extras, reasons, score, features, events."""
    u = len(USAGE)
    bv, iv, registered_at, tier_index, nreasons = (int(v) for v in raw[u : u + 5])
    reasons = tuple(text(v) for v in raw[u + 5 : u + 5 + nreasons])
    at = u + 5 + nreasons
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
