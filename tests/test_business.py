"""Business messaging (SPEC §1.2) and exceptions (§1.1) through the gRPC API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import DAY, T0, Backend, ServerFactory, acct

HOUR = 3_600_000


async def all_events(admin: pb_grpc.SendGateAdminStub) -> list[pb.Event]:
    """Every event of the stream, oldest first (bounded paging)."""
    out: list[pb.Event] = []
    after = ""
    for _ in range(1000):
        page = await admin.ListEvents(pb.ListEventsRequest(after_id=after, limit=1000))
        out.extend(page.events)
        if page.next_id == after:
            break
        after = page.next_id
    return out


class Api:
    """Both services of one server, with helpers for the common steps."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.sg = pb_grpc.SendGateStub(channel)
        self.admin = pb_grpc.SendGateAdminStub(channel)

    async def business(self, at: int = T0, **kw: bool) -> str:
        b = acct("biz")
        await self.admin.UpsertAccount(
            pb.UpsertAccountRequest(account=b, kind=pb.BUSINESS, at_unix_ms=at, **kw)
        )
        return b

    async def opt_in(self, b: str, users: list[str], at: int = T0, opted: bool = True) -> None:
        await asyncio.gather(
            *(
                self.sg.RecordOptIn(
                    pb.RecordOptInRequest(business=b, user=u, opted_in=opted, at_unix_ms=at)
                )
                for u in users
            )
        )

    async def send(
        self, s: str, r: str, at: int = T0, mid: str | None = None
    ) -> pb.CanSendResponse:
        return await self.sg.CanSend(  # type: ignore[no-any-return]
            pb.CanSendRequest(sender=s, recipient=r, message_id=mid or acct("m"), at_unix_ms=at)
        )

    async def batch(self, s: str, users: list[str], at: int = T0) -> list[pb.CanSendResponse]:
        reqs = [
            pb.CanSendRequest(sender=s, recipient=u, message_id=acct("m"), at_unix_ms=at)
            for u in users
        ]
        resp = await self.sg.CanSendBatch(pb.CanSendBatchRequest(requests=reqs))
        return list(resp.responses)

    async def usage(self, a: str, at: int = T0) -> pb.Usage:
        resp = await self.sg.GetUsage(pb.GetUsageRequest(account=a, at_unix_ms=at))
        return resp.usage  # type: ignore[no-any-return]

    async def block(self, subject: str, n: int, at: int, kind: int = pb.BLOCK) -> int:
        q = 0
        for _ in range(n):
            resp = await self.sg.RecordFeedback(
                pb.RecordFeedbackRequest(
                    reporter=acct("rep"),
                    subject=subject,
                    kind=kind,  # type: ignore[arg-type]
                    at_unix_ms=at,
                )
            )
            q = resp.quality
        return q


@pytest_asyncio.fixture(scope="session")
async def api(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    """Default tiers (250 first), a larger business quota so tiers are what binds."""
    server = await server_factory(redis_url=backend.url, limits={"business_monthly": 100_000})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(ch)


@pytest_asyncio.fixture(scope="session")
async def small(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    """Tiny tiers so transitions take a handful of messages."""
    server = await server_factory(
        redis_url=backend.url,
        limits={"business_monthly": 100_000},
        business={
            "tiers": [4, 8, 16, 0],
            "starting_tier_high_quality_conversations": 3,
            "identity_verification_from_tier": 2,
        },
        quality={"surge_per_hour": 6, "min_sample": 20},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(ch)


async def test_250th_user_allowed_251st_denied(api: Api) -> None:
    b = await api.business()
    users = [acct("u") for _ in range(251)]
    await api.opt_in(b, users)
    results = await api.batch(b, users)
    assert all(r.decision == pb.ALLOW for r in results[:250])
    last = results[250]
    assert (last.decision, last.reason) == (pb.DENY, pb.BUSINESS_TIER_LIMIT)
    assert 0 < last.retry_after_ms <= DAY
    usage = await api.usage(b)
    assert (usage.tier_limit, usage.unique_users_24h, usage.status) == (250, 250, pb.RESTRICTED)
    # An open business-initiated conversation uses no new slot.
    again = await api.send(b, users[0], T0 + HOUR)
    assert again.decision == pb.ALLOW
    # Replies inside a customer-service window still go through while RESTRICTED.
    customer = acct("c")
    await api.send(customer, b, T0 + HOUR)
    reply = await api.send(b, customer, T0 + HOUR + 1)
    assert reply.decision == pb.ALLOW and not reply.counted
    # 24 h after the conversations opened, slots are free again.
    later = await api.send(b, users[250], T0 + DAY + 1)
    assert later.decision == pb.ALLOW
    usage = await api.usage(b, T0 + DAY + 2)
    assert (usage.unique_users_24h, usage.status) == (1, pb.CONNECTED)


async def test_customer_service_window_opens_and_closes(api: Api) -> None:
    b, u = await api.business(), acct("u")
    assert (await api.send(b, u)).reason == pb.NO_OPT_IN
    await api.send(u, b, T0 + 1)  # the user writes first: the window opens
    inside = await api.send(b, u, T0 + 23 * HOUR)
    assert inside.decision == pb.ALLOW and not inside.counted
    outside = await api.send(b, u, T0 + 25 * HOUR)
    assert (outside.decision, outside.reason) == (pb.DENY, pb.NO_OPT_IN)
    await api.sg.RecordReply(
        pb.RecordReplyRequest(replier=u, replied_to=b, at_unix_ms=T0 + 26 * HOUR)
    )
    assert (await api.send(b, u, T0 + 27 * HOUR)).decision == pb.ALLOW


async def test_opt_in_and_opt_out_mid_stream(api: Api) -> None:
    b, u = await api.business(), acct("u")
    await api.opt_in(b, [u])
    assert (await api.send(b, u)).decision == pb.ALLOW
    await api.opt_in(b, [u], opted=False)
    stopped = await api.send(b, u, T0 + 1)  # inside the open conversation: still at once
    assert (stopped.decision, stopped.reason) == (pb.DENY, pb.NO_OPT_IN)
    await api.opt_in(b, [u], T0 + 2)
    assert (await api.send(b, u, T0 + 3)).decision == pb.ALLOW


async def test_personal_accounts_need_no_opt_in(api: Api) -> None:
    assert (await api.send(acct("p"), acct("q"))).decision == pb.ALLOW


async def test_exact_tier_admission_under_concurrency(small: Api) -> None:
    b = await small.business()
    users = [acct("u") for _ in range(40)]  # 10 x the limit of 4
    await small.opt_in(b, users)
    results = await asyncio.gather(*(small.send(b, u) for u in users))
    assert sum(r.decision == pb.ALLOW for r in results) == 4
    assert {r.reason for r in results if r.decision == pb.DENY} == {pb.BUSINESS_TIER_LIMIT}


async def test_quality_from_feedback_and_dedup(api: Api) -> None:
    b = await api.business()
    users = [acct("u") for _ in range(100)]
    await api.opt_in(b, users)
    await api.batch(b, users)
    # 2 reporters: below the minimum feedback, still HIGH.
    assert await api.block(b, 2, T0 + HOUR) == pb.HIGH
    # The same reporter twice on one day counts once.
    rep = acct("rep")
    for _ in range(3):
        resp = await api.sg.RecordFeedback(
            pb.RecordFeedbackRequest(
                reporter=rep, subject=b, kind=pb.SPAM_REPORT, at_unix_ms=T0 + HOUR
            )
        )
    assert resp.quality == pb.MEDIUM  # 3 unique x weight 3 / 300 = 3 %
    assert await api.block(b, 2, T0 + HOUR) == pb.LOW  # 5 x 3 / 300 = 5 %
    usage = await api.usage(b, T0 + HOUR)
    assert usage.status == pb.FLAGGED and list(usage.flags) == [pb.QUALITY_LOW]
    assert usage.quality == pb.LOW


async def test_flagged_seven_days_downgrades_then_recovers(small: Api, backend: Backend) -> None:
    b = await small.business(business_verified=True)
    users = [acct("u") for _ in range(2)]
    await small.opt_in(b, users)
    await small.batch(b, users)
    tier = await small.admin.EvaluateTier(pb.EvaluateTierRequest(account=b, at_unix_ms=T0 + 1))
    assert (tier.tier_limit, tier.changed) == (8, True)
    # Blocks every day keep the quality LOW for a week.
    assert await small.block(b, 3, T0 + HOUR) == pb.LOW
    for day in range(1, 7):
        assert await small.block(b, 3, T0 + day * DAY) == pb.LOW
    usage = await small.usage(b, T0 + 6 * DAY + HOUR)
    assert (usage.tier_limit, usage.status) == (8, pb.FLAGGED)
    assert await small.block(b, 3, T0 + 7 * DAY + 2 * HOUR) == pb.LOW
    usage = await small.usage(b, T0 + 7 * DAY + 2 * HOUR)
    assert usage.tier_limit == 4  # one tier down after 7 days flagged
    # No more feedback: a week later the rating recovers and the flag clears.
    usage = await small.usage(b, T0 + 15 * DAY)
    assert (usage.quality, usage.status, list(usage.flags)) == (pb.HIGH, pb.CONNECTED, [])
    # Through ListEvents: decisions queue their events, and a sidecar lists its own
    # queued events before answering (read-your-writes).
    mine = [e for e in await all_events(small.admin) if e.account == b]
    kinds = [e.kind for e in mine]
    assert kinds.count("flag_raised") == 1 and "flag_cleared" in kinds
    down = [e for e in mine if e.kind == "tier_changed" and e.attributes["cause"] == "flagged"]
    assert down and (down[0].attributes["from"], down[0].attributes["to"]) == ("1", "0")


async def test_surge_of_reports_lowers_the_limit(small: Api) -> None:
    b = await small.business()
    assert (await small.usage(b)).tier_limit == 4
    await small.block(b, 6, T0)
    assert (await small.usage(b)).tier_limit == 2
    assert (await small.usage(b, T0 + 3 * HOUR)).tier_limit == 4  # the surge passed


async def test_upgrade_needs_volume_quality_and_verification(small: Api) -> None:
    b = await small.business()
    day0 = [acct("u") for _ in range(2)]
    await small.opt_in(b, day0 + [acct("x") for _ in range(0)])
    await small.batch(b, day0)
    t = await small.admin.EvaluateTier(pb.EvaluateTierRequest(account=b, at_unix_ms=T0 + 1))
    assert not t.changed and t.tier_limit == 4
    assert any("business verification" in r for r in t.reasons)  # 2 of 3 HQ conversations
    third = acct("u")
    await small.opt_in(b, [third], T0 + DAY)
    await small.send(b, third, T0 + DAY)
    t = await small.admin.EvaluateTier(pb.EvaluateTierRequest(account=b, at_unix_ms=T0 + DAY + 1))
    assert (t.changed, t.tier_limit, t.tier_index) == (True, 8, 1)
    # Next: 4 users in 7 days (half of 8), but tier index 2 needs both verifications.
    fourth = acct("u")
    await small.opt_in(b, [fourth], T0 + DAY)
    await small.send(b, fourth, T0 + DAY + 2)
    t = await small.admin.EvaluateTier(pb.EvaluateTierRequest(account=b, at_unix_ms=T0 + DAY + 3))
    assert not t.changed and any("identity verification" in r for r in t.reasons)
    await small.admin.UpsertAccount(
        pb.UpsertAccountRequest(
            account=b,
            kind=pb.BUSINESS,
            business_verified=True,
            identity_verified=True,
            at_unix_ms=T0 + DAY + 4,
        )
    )
    # The lazy hourly evaluation upgrades without an explicit EvaluateTier.
    usage = await small.usage(b, T0 + DAY + 2 * HOUR)
    assert usage.tier_limit == 16


async def test_flagged_business_is_not_upgraded(small: Api) -> None:
    b = await small.business(business_verified=True)
    users = [acct("u") for _ in range(3)]
    await small.opt_in(b, users)
    await small.batch(b, users)
    await small.block(b, 3, T0 + 1)
    t = await small.admin.EvaluateTier(pb.EvaluateTierRequest(account=b, at_unix_ms=T0 + 2))
    assert not t.changed and any("FLAGGED" in r for r in t.reasons)


async def test_get_account_shows_everything(api: Api) -> None:
    b = await api.business(business_verified=True)
    await api.admin.UpsertAccount(
        pb.UpsertAccountRequest(
            account=b,
            kind=pb.BUSINESS,
            business_verified=True,
            registered_at=T0 - DAY,
            at_unix_ms=T0,
        )
    )
    got = (await api.admin.GetAccount(pb.GetAccountRequest(account=b, at_unix_ms=T0))).account
    assert (got.kind, got.business_verified, got.identity_verified) == (pb.BUSINESS, True, False)
    assert got.registered_at == T0 - DAY and got.tier_index == 0
    assert (got.usage.tier_limit, got.usage.quality, got.usage.status) == (
        250,
        pb.HIGH,
        pb.CONNECTED,
    )
    personal = (
        await api.admin.GetAccount(pb.GetAccountRequest(account=acct("p"), at_unix_ms=T0))
    ).account
    assert personal.kind == pb.PERSONAL and personal.usage.limit == 200


async def test_exception_request_approve_expire(
    limit5: SendGateServer, stub: pb_grpc.SendGateStub
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as ch:
        admin = pb_grpc.SendGateAdminStub(ch)
        a = acct("a")
        req = await stub.RequestException(
            pb.RequestExceptionRequest(
                account=a, reason=pb.INVITING_TO_LARGE_EVENT, note="wedding", at_unix_ms=T0
            )
        )
        assert req.state == pb.PENDING and req.request_id
        again = await stub.RequestException(
            pb.RequestExceptionRequest(account=a, reason=pb.INVITING_TO_LARGE_EVENT, at_unix_ms=T0)
        )
        assert again.request_id == req.request_id  # one open request per account
        pending = await admin.ListExceptions(
            pb.ListExceptionsRequest(state=pb.PENDING, at_unix_ms=T0)
        )
        assert req.request_id in [x.request_id for x in pending.exceptions]
        reviewed = await admin.ReviewException(
            pb.ReviewExceptionRequest(
                request_id=req.request_id,
                approve=True,
                extra_allowance=10,
                expires_at=T0 + 2 * DAY,
                at_unix_ms=T0 + 1,
            )
        )
        assert reviewed.exception.state == pb.APPROVED
        assert reviewed.exception.note == "wedding"
        usage = await stub.GetUsage(pb.GetUsageRequest(account=a, at_unix_ms=T0 + 2))
        assert usage.usage.limit == 15
        for i in range(12):
            r = await stub.CanSend(
                pb.CanSendRequest(
                    sender=a, recipient=acct("r"), message_id=f"x{i}", at_unix_ms=T0 + 10 + i
                )
            )
            assert r.decision == pb.ALLOW
        acc = (await admin.GetAccount(pb.GetAccountRequest(account=a, at_unix_ms=T0 + 3))).account
        assert [x.state for x in acc.exceptions] == [pb.APPROVED]
        # The same verdict again is a safe retry; a different one is refused.
        same = await admin.ReviewException(
            pb.ReviewExceptionRequest(
                request_id=req.request_id,
                approve=True,
                extra_allowance=10,
                expires_at=T0 + 2 * DAY,
                at_unix_ms=T0 + 4,
            )
        )
        assert same.exception.state == pb.APPROVED
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.ReviewException(
                pb.ReviewExceptionRequest(
                    request_id=req.request_id, approve=False, at_unix_ms=T0 + 5
                )
            )
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # After the expiry the limit is back to 5 and the request reads EXPIRED.
        after = await stub.GetUsage(pb.GetUsageRequest(account=a, at_unix_ms=T0 + 2 * DAY + 1))
        assert after.usage.limit == 5
        expired = await admin.ListExceptions(
            pb.ListExceptionsRequest(state=pb.EXPIRED, at_unix_ms=T0 + 2 * DAY + 1)
        )
        assert req.request_id in [x.request_id for x in expired.exceptions]
        approved = await admin.ListExceptions(
            pb.ListExceptionsRequest(state=pb.APPROVED, at_unix_ms=T0 + 2 * DAY + 1)
        )
        assert req.request_id not in [x.request_id for x in approved.exceptions]


async def test_exception_rejection_and_errors(
    limit5: SendGateServer, stub: pb_grpc.SendGateStub
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as ch:
        admin = pb_grpc.SendGateAdminStub(ch)
        a = acct("a")
        req = await stub.RequestException(
            pb.RequestExceptionRequest(
                account=a, reason=pb.RECONNECTING_AFTER_NEW_PHONE, at_unix_ms=T0
            )
        )
        rejected = await admin.ReviewException(
            pb.ReviewExceptionRequest(request_id=req.request_id, approve=False, at_unix_ms=T0 + 1)
        )
        assert rejected.exception.state == pb.REJECTED
        usage = await stub.GetUsage(pb.GetUsageRequest(account=a, at_unix_ms=T0 + 2))
        assert usage.usage.limit == 5
        listed = await admin.ListExceptions(
            pb.ListExceptionsRequest(state=pb.REJECTED, at_unix_ms=T0)
        )
        assert req.request_id in [x.request_id for x in listed.exceptions]
        # A new request is possible once the old one is decided.
        new = await stub.RequestException(
            pb.RequestExceptionRequest(
                account=a, reason=pb.REACHING_NEW_PERSONAL_CONNECTIONS, at_unix_ms=T0 + 3
            )
        )
        assert new.request_id != req.request_id
        cases = [
            (
                admin.ReviewException(pb.ReviewExceptionRequest(request_id="nope", approve=False)),
                grpc.StatusCode.NOT_FOUND,
            ),
            (
                admin.ReviewException(
                    pb.ReviewExceptionRequest(
                        request_id=new.request_id,
                        approve=True,
                        extra_allowance=0,
                        expires_at=T0 + DAY,
                        at_unix_ms=T0,
                    )
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                stub.RequestException(pb.RequestExceptionRequest(account=a, reason=0)),  # type: ignore[arg-type]
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                admin.ListExceptions(pb.ListExceptionsRequest(state=99)),  # type: ignore[arg-type]
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                admin.UpsertAccount(pb.UpsertAccountRequest(account=a, kind=7)),  # type: ignore[arg-type]
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                stub.RecordFeedback(
                    pb.RecordFeedbackRequest(reporter="x", subject="x", kind=pb.BLOCK)
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                stub.RecordOptIn(pb.RecordOptInRequest(business="", user="u")),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ]
        for call, code in cases:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await call
            assert info.value.code() == code


async def test_tokens_per_service(server_factory: ServerFactory) -> None:
    server = await server_factory(
        auth={"sendgate_token": "chat-secret", "admin_token": "tns-secret"}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        sg, admin = pb_grpc.SendGateStub(ch), pb_grpc.SendGateAdminStub(ch)
        req = pb.GetUsageRequest(account="a")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await sg.GetUsage(req)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await sg.GetUsage(req, metadata=[("authorization", "Bearer wrong")])
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as info:  # the admin token is not the chat token
            await sg.GetUsage(req, metadata=[("authorization", "Bearer tns-secret")])
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stream = sg.CanSendStream(
            iter([pb.CanSendRequest(sender="a", recipient="b", message_id="m")])
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            _ = [r async for r in stream]
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        ok = await sg.GetUsage(req, metadata=[("authorization", "Bearer chat-secret")])
        assert ok.usage.limit == 200
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.GetAccount(
                pb.GetAccountRequest(account="a"),
                metadata=[("authorization", "Bearer chat-secret")],
            )
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        got = await admin.GetAccount(
            pb.GetAccountRequest(account="a"), metadata=[("authorization", "Bearer tns-secret")]
        )
        assert got.account.account == "a"
