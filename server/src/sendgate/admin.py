"""The worker behind SendGateAdmin and exception requests: accounts and exceptions.

Like the Gate it knows no gRPC and no Redis command; Redis faults surface as
BackendError (the service answers UNAVAILABLE: these are not per-message decisions).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from sendgate import evasion
from sendgate.domain import (
    AccountKind,
    AccountView,
    Decision,
    Event,
    ExceptionReason,
    ExceptionRecord,
    ExceptionState,
)
from sendgate.errors import SendGateError
from sendgate.events import EventSink
from sendgate.gate import Gate
from sendgate.guard import Deadline, Guard
from sendgate.linked import Linked
from sendgate.months import wall_ms
from sendgate.store.redis_store import RedisStore

MAX_LIST = 1000


class NoHmacKey(SendGateError):
    """Identifiers were given but no ban_evasion.hmac_key is configured."""


class NotFound(SendGateError):
    """No such request."""


class Conflict(SendGateError):
    """The request was already reviewed differently."""


class Admin:
    def __init__(
        self, gate: Gate, store: RedisStore, guard: Guard, events: EventSink,
        hmac_key: bytes, strong_kinds: frozenset[str], *, retention_ms: int = 180 * 86_400_000,
        velocity_kinds: frozenset[str] = frozenset(), velocity_threshold: int = 0,
    ) -> None:  # fmt: skip
        self._gate = gate
        self._store = store
        self._guard = guard
        self._events = events
        self._key = hmac_key
        self._strong = strong_kinds
        # Threshold 0 switches registration velocity off: nothing is counted.
        self._velocity_kinds = velocity_kinds if velocity_threshold > 0 else frozenset()
        self._velocity_threshold = velocity_threshold
        self.linked = Linked(store, guard, events, strong_kinds, retention_ms)

    def _hash(self, identifiers: Sequence[tuple[str, str]]) -> list[str]:
        if identifiers and not self._key:
            raise NoHmacKey("identifiers need ban_evasion.hmac_key (never stored in clear)")
        return [h.token for h in evasion.hash_all(self._key, identifiers)]

    async def ban(
        self,
        account: str,
        reason: str,
        identifiers: Sequence[tuple[str, str]],
        at_ms: int,
        time_remaining_s: float | None,
    ) -> None:
        tokens = self._hash(identifiers)
        deadline = Deadline(time_remaining_s)
        # The identifiers it registered with are banned too: a new account on the same
        # device is ban evasion whether or not the reviewer listed the device.
        registered, _ = await self._guard.run(
            deadline(), lambda b: self._store.link_sources(account, at_ms, b)
        )
        held = sorted({*tokens, *registered})
        changed = await self._guard.run(
            deadline(), lambda b: self._store.ban(account, True, reason, held, at_ms, b)
        )
        if changed:
            ev = Event("account_banned", (("reason", reason), ("identifiers", str(len(tokens)))))
            await self._events.emit(account, at_ms, [ev])
        # Also when already banned: a retried ban finishes a fan-out a fault cut short.
        await self.linked.banned(account, at_ms, deadline)

    async def unban(self, account: str, at_ms: int, time_remaining_s: float | None) -> None:
        deadline = Deadline(time_remaining_s)
        changed = await self._guard.run(
            deadline(), lambda b: self._store.ban(account, False, "", [], at_ms, b)
        )
        if changed:
            await self._events.emit(account, at_ms, [Event("account_unbanned")])
        await self.linked.unbanned(account, at_ms, deadline)

    async def check_registration(
        self,
        account: str,
        identifiers: Sequence[tuple[str, str]],
        at_ms: int,
        time_remaining_s: float | None,
    ) -> tuple[Decision, list[str]]:
        """Compare a new account's identifiers with those of banned accounts, and keep
        them (keyed hashes) for the linked-accounts index whatever the answer. A crowd
        of other registrations on one identifier of a velocity kind within the window
        makes the answer at least REVIEW (a strong match's DENY stays DENY)."""
        deadline = Deadline(time_remaining_s)
        hashed = evasion.hash_all(self._key, identifiers) if self._key else []
        found = await self._guard.run(
            deadline(),
            lambda b: self._store.banned_by_identifier([h.token for h in hashed], b),
        )
        matched_kinds = [h.kind for h, accounts in zip(hashed, found, strict=True) if accounts]
        matched = sorted({a for accounts in found for a in accounts if a != account})
        decision = evasion.decide(matched_kinds if matched else [], self._strong)
        if decision is not Decision.ALLOW:
            raised = await self._guard.run(
                deadline(), lambda b: self._store.mark_evasion(account, b)
            )
            ev = Event("ban_evasion", (("decision", decision.name), ("matches", str(len(matched)))))
            flag = [Event("flag_raised", (("flag", "ban_evasion"),))] if raised else []
            await self._events.emit(account, at_ms, [ev, *flag])
        if hashed:
            review = decision is Decision.REVIEW
            crowd = await self.linked.registered(
                account, hashed, found, review, at_ms, deadline, self._velocity_kinds
            )
            hits = evasion.velocity_hits(crowd, self._velocity_threshold)
            if hits:
                if decision is Decision.ALLOW:
                    decision = Decision.REVIEW
                    await self.linked.put_under_review(account, hashed, at_ms, deadline)
                evs = [
                    Event("registration_velocity", (
                        ("kind", kind), ("count", str(n)), ("decision", decision.name),
                    ))
                    for kind, n in hits
                ]  # fmt: skip
                await self._events.emit(account, at_ms, evs)
        return decision, matched

    async def upsert_account(
        self,
        account: str,
        kind: AccountKind,
        business_verified: bool,
        identity_verified: bool,
        registered_at: int,
        at_ms: int,
        time_remaining_s: float | None,
    ) -> AccountView:
        p, months = self._gate.params, self._gate.table(at_ms)
        view = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.upsert_account(
                account, kind, business_verified, identity_verified, registered_at, at_ms,
                p, months, b,
            ),
        )  # fmt: skip
        await self._events.emit(account, at_ms, view.events)
        return view

    async def get_account(
        self, account: str, at_ms: int, time_remaining_s: float | None
    ) -> tuple[AccountView, list[ExceptionRecord]]:
        deadline = Deadline(time_remaining_s)
        view = await self._gate.account(account, at_ms, deadline())
        exceptions = await self._guard.run(
            deadline(),
            lambda b: self._store.exception_list(None, account, 100, at_ms, at_ms or wall_ms(), b),
        )
        rv = await self.linked.review_state(account, at_ms, deadline)
        view = replace(
            view, under_review=rv.under_review, review_daily_limit=rv.daily_limit,
            linked_to_banned=rv.linked_to_banned,
        )  # fmt: skip
        return view, exceptions

    async def evaluate_tier(
        self, account: str, at_ms: int, time_remaining_s: float | None
    ) -> AccountView:
        return await self._gate.account(account, at_ms, time_remaining_s, evaluate=True)

    async def request_exception(
        self,
        account: str,
        reason: ExceptionReason,
        note: str,
        at_ms: int,
        time_remaining_s: float | None,
    ) -> tuple[str, ExceptionState]:
        new_id = uuid.uuid4().hex
        request_id, created = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.exception_request(account, reason, note, new_id, at_ms, b),
        )
        if created:
            event = Event("exception_requested", (("request_id", request_id),
                                                  ("reason", reason.name)))  # fmt: skip
            await self._events.emit(account, at_ms, [event])
        return request_id, ExceptionState.PENDING

    async def review_exception(
        self,
        request_id: str,
        approve: bool,
        extra: int,
        expires_at: int,
        at_ms: int,
        time_remaining_s: float | None,
    ) -> ExceptionRecord:
        now = at_ms or wall_ms()
        status, record = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.exception_review(
                request_id, approve, extra, expires_at, at_ms, now, b
            ),
        )
        if status == "not_found" or record is None:
            raise NotFound(f"no exception request {request_id!r}")
        if status == "conflict":
            raise Conflict(f"request {request_id} is already {record.state.name}")
        if record.state in (ExceptionState.APPROVED, ExceptionState.EXPIRED):
            # Applied again on a same-verdict retry, so a fault between the calls heals.
            await self._guard.run(
                time_remaining_s,
                lambda b: self._store.set_allowance(
                    record.account,
                    record.extra_allowance,
                    record.expires_at,
                    int(record.reason),
                    b,
                ),
            )
        if status == "ok":
            event = Event(
                "exception_reviewed",
                (("request_id", request_id), ("state", record.state.name),
                 ("extra_allowance", str(record.extra_allowance)),
                 ("expires_at", str(record.expires_at))),
            )  # fmt: skip
            await self._events.emit(record.account, at_ms, [event])
        return record

    async def list_exceptions(
        self, state: ExceptionState | None, at_ms: int, time_remaining_s: float | None
    ) -> list[ExceptionRecord]:
        """Requests in `state`, or (None) in every state, oldest request first."""
        now = at_ms or wall_ms()
        states = [state] if state is not None else list(ExceptionState)
        deadline = Deadline(time_remaining_s)
        found: list[ExceptionRecord] = []
        for st in states:  # one slot, four small reads: admin traffic, not per message
            read = partial(self._store.exception_list, st, None, MAX_LIST, at_ms, now)
            found += await self._guard.run(deadline(), read)
        found.sort(key=lambda x: (x.requested_at, x.request_id))
        return found[:MAX_LIST]
