"""The worker behind SendGateAdmin and exception requests: accounts and exceptions.

Like the Gate it knows no gRPC and no Redis command; Redis faults surface as
BackendError (the service answers UNAVAILABLE: these are not per-message decisions).
"""

from __future__ import annotations

import uuid

from sendgate.domain import (
    AccountKind,
    AccountView,
    Event,
    ExceptionReason,
    ExceptionRecord,
    ExceptionState,
)
from sendgate.errors import SendGateError
from sendgate.events import EventSink
from sendgate.gate import Gate, wall_ms
from sendgate.guard import Guard
from sendgate.store.redis_store import RedisStore

MAX_LIST = 1000


class NotFound(SendGateError):
    """No such request."""


class Conflict(SendGateError):
    """The request was already reviewed differently."""


class Admin:
    def __init__(self, gate: Gate, store: RedisStore, guard: Guard, events: EventSink) -> None:
        self._gate = gate
        self._store = store
        self._guard = guard
        self._events = events

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
        view = await self._gate.account(account, at_ms, time_remaining_s)
        exceptions = await self._guard.run(
            time_remaining_s,
            lambda b: self._store.exception_list(None, account, 100, at_ms, at_ms or wall_ms(), b),
        )
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
                    record.account, record.extra_allowance, record.expires_at, b
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
        self, state: ExceptionState, at_ms: int, time_remaining_s: float | None
    ) -> list[ExceptionRecord]:
        now = at_ms or wall_ms()
        return await self._guard.run(
            time_remaining_s,
            lambda b: self._store.exception_list(state, None, MAX_LIST, at_ms, now, b),
        )
