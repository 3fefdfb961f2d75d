"""Every RPC of both services, through the sync and the async clients alike (one
scenario; the sync clients run in a thread so the in-process server keeps serving)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from sendgate.client import (
    AccountKind,
    AdminClient,
    AsyncAdminClient,
    AsyncSendGateClient,
    Decision,
    ExceptionReason,
    ExceptionState,
    FeedbackKind,
    LimitWarning,
    Message,
    NotFound,
    Quality,
    Reason,
    SendGateClient,
)
from sendgate.server import SendGateServer
from tests.conftest import DAY, T0, ServerFactory, acct


class Threaded:
    """A sync client seen as an async one: each call runs in a worker thread."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(functools.partial(method, *args, **kwargs))

        return call

    async def can_send_stream(self, messages: Iterable[Any], **kw: Any) -> AsyncIterator[Any]:
        results = await asyncio.to_thread(
            lambda: list(self._client.can_send_stream(messages, **kw))
        )
        for r in results:
            yield r


@pytest.fixture(scope="module")
async def rpc_server(server_factory: ServerFactory) -> SendGateServer:
    return await server_factory(
        limits={"personal_monthly": 3, "warn_ratio": 0.5},
        bulk={"enabled": False},
        ban_evasion={"hmac_key": "test-key-for-client-rpcs"},
    )


async def scenario(sg: Any, admin: Any) -> None:
    s, r1, r2, r3 = acct("s"), acct("r"), acct("r"), acct("r")
    first = await sg.can_send(s, r1, "m1", at_unix_ms=T0)
    assert (first.decision, first.reason, first.counted) == (
        Decision.ALLOW,
        Reason.REASON_UNSPECIFIED,
        True,
    )
    assert first.decision == "ALLOW" and first.usage.used == 1 and not first.usage.is_business
    assert (await sg.can_send(s, r1, "m1", at_unix_ms=T0)).duplicate
    batch = await sg.can_send_batch(
        [(s, r2, "m2"), Message(s, r3, "m3", dry_run=True)], at_unix_ms=T0
    )
    assert [b.usage.used for b in batch] == [2, 2] and batch[0].warning is LimitWarning.APPROACHING
    streamed = [x async for x in sg.can_send_stream(
        [(s, acct("r"), "m4"), (s, acct("r"), "m5")], at_unix_ms=T0)]  # fmt: skip
    assert [x.decision for x in streamed] == [Decision.ALLOW, Decision.DENY]
    assert streamed[1].reason is Reason.MONTHLY_UNREPLIED_LIMIT and streamed[1].retry_after_ms > 0
    assert await sg.record_reply(r1, s, at_unix_ms=T0) == 1
    usage = await sg.get_usage(s, at_unix_ms=T0)
    assert (usage.used, usage.limit, usage.remaining) == (2, 3, 1)

    biz, user = acct("biz"), acct("u")
    account = await admin.upsert_account(biz, AccountKind.BUSINESS, business_verified=True,
                                         registered_at=T0 - DAY, at_unix_ms=T0)  # fmt: skip
    assert account.kind is AccountKind.BUSINESS and account.business_verified
    assert await sg.record_opt_in(biz, user, at_unix_ms=T0) is None
    assert (await sg.can_send(biz, user, "b1", at_unix_ms=T0)).allowed
    assert (await sg.get_usage(biz, at_unix_ms=T0)).is_business
    assert await sg.record_feedback(user, biz, FeedbackKind.BLOCK, at_unix_ms=T0) in set(Quality)
    tier = await admin.evaluate_tier(biz, at_unix_ms=T0)
    assert tier.tier_limit > 0 and not tier.changed and tier.reasons

    ticket = await sg.request_exception(
        s, ExceptionReason.INVITING_TO_LARGE_EVENT, "a wedding", at_unix_ms=T0
    )
    assert ticket.state is ExceptionState.PENDING
    pending = await admin.list_exceptions(ExceptionState.PENDING, at_unix_ms=T0)
    assert ticket.request_id in {x.request_id for x in pending}
    assert ticket.request_id in {x.request_id for x in await admin.list_exceptions(at_unix_ms=T0)}
    reviewed = await admin.review_exception(
        ticket.request_id, True, extra_allowance=10, expires_at=T0 + DAY, at_unix_ms=T0
    )
    assert (reviewed.state, reviewed.extra_allowance) == (ExceptionState.APPROVED, 10)
    assert (await sg.get_usage(s, at_unix_ms=T0)).limit == 13
    with pytest.raises(NotFound):
        await admin.review_exception("nosuchrequest0", False, at_unix_ms=T0)

    banned, device = acct("banned"), f"device:{acct('dev')}"
    await admin.ban_account(banned, "spam", [device], at_unix_ms=T0)
    got = await admin.get_account(banned, at_unix_ms=T0)
    assert got.banned and got.ban_reason == "spam"
    denied = await sg.can_send(banned, acct("r"), "x1", at_unix_ms=T0)
    assert denied.reason is Reason.ACCOUNT_BANNED
    reg = await sg.check_registration(acct("new"), [device], at_unix_ms=T0)
    assert reg.decision is Decision.DENY and reg.matched_banned_accounts == (banned,)
    await admin.unban_account(banned, at_unix_ms=T0)
    assert not (await admin.get_account(banned, at_unix_ms=T0)).banned

    seen, after = [], ""
    for _ in range(100):  # pages of the whole session's stream, oldest first (bounded)
        page = await admin.list_events(after, kinds=["account_banned"], limit=1000)
        seen += page.events
        if page.next_id == after:  # nothing new: the end of the stream
            break
        after = page.next_id
    mine = [e for e in seen if e.account == banned]
    assert [e.kind for e in mine] == ["account_banned"] and mine[0].attributes["reason"] == "spam"
    assert mine[0].at_unix_ms == T0


async def test_async_clients_every_rpc(rpc_server: SendGateServer) -> None:
    target = f"127.0.0.1:{rpc_server.grpc_port}"
    async with (
        AsyncSendGateClient(target, timeout=10) as sg,
        AsyncAdminClient(target, timeout=10) as admin,
    ):
        await scenario(sg, admin)


async def test_sync_clients_every_rpc(rpc_server: SendGateServer) -> None:
    target = f"127.0.0.1:{rpc_server.grpc_port}"
    with SendGateClient(target, timeout=10) as sg, AdminClient(target, timeout=10) as admin:
        await scenario(Threaded(sg), Threaded(admin))
