"""New accounts earn their allowance (issue 15): a personal account younger than
`ramp.days` opens a daily budget of new conversations that grows with its age and with
the people who wrote to it. Real redis-server (and, with `-m cluster`, a real Redis
Cluster) and a real gRPC server; time moves by at_unix_ms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio

from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import DAY, T0, Backend, ServerFactory, acct, approve_exception

BASE, PER_DAY, PER_REPLY = 3, 2, 1
DAY0 = (T0 // DAY) * DAY  # T0's UTC midnight


class Api:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.sg = pb_grpc.SendGateStub(channel)
        self.admin = pb_grpc.SendGateAdminStub(channel)

    async def young(self, registered_at: int, kind: pb.AccountKind.ValueType = pb.PERSONAL) -> str:
        a = acct("young")
        await self.admin.UpsertAccount(
            pb.UpsertAccountRequest(
                account=a, kind=kind, registered_at=registered_at, at_unix_ms=registered_at
            )
        )
        return a

    async def send(
        self, s: str, r: str, at: int, dry_run: bool = False, mid: str = ""
    ) -> pb.CanSendResponse:
        return await self.sg.CanSend(  # type: ignore[no-any-return]
            pb.CanSendRequest(
                sender=s, recipient=r, message_id=mid or acct("m"), at_unix_ms=at, dry_run=dry_run
            )
        )

    async def usage(self, a: str, at: int) -> pb.Usage:
        resp = await self.sg.GetUsage(pb.GetUsageRequest(account=a, at_unix_ms=at))
        return resp.usage  # type: ignore[no-any-return]

    async def strangers(self, s: str, n: int, at: int) -> list[pb.CanSendResponse]:
        return [await self.send(s, acct("r"), at + i * 1000) for i in range(n)]


@pytest_asyncio.fixture(scope="session")
async def ramp(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    server = await server_factory(
        redis_url=backend.url,
        bulk={"enabled": False},
        ramp={"daily_base": BASE, "per_day": PER_DAY, "per_reply": PER_REPLY, "days": 14},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(ch)


async def test_a_new_account_opens_its_daily_budget_then_waits_for_tomorrow(ramp: Api) -> None:
    s = await ramp.young(DAY0 + 1000)
    at = DAY0 + 2 * 3_600_000
    first = await ramp.strangers(s, BASE, at)
    assert [r.decision for r in first] == [pb.ALLOW] * BASE
    assert first[-1].usage.new_conversations_today == BASE
    assert first[-1].usage.new_conversations_limit == BASE
    over = await ramp.send(s, acct("r"), at + 10_000)
    assert (over.decision, over.reason, over.counted) == (pb.DENY, pb.NEW_ACCOUNT_LIMIT, False)
    assert over.retry_after_ms == DAY0 + DAY - (at + 10_000)  # the next UTC day
    # Nothing of the monthly quota was spent on the denial.
    assert over.usage.used == BASE
    # A whole day old (age, not the calendar), the budget grows by PER_DAY; the count
    # starts again each UTC day.
    tomorrow = await ramp.strangers(s, BASE + PER_DAY, DAY0 + DAY + 1000)
    assert all(r.decision == pb.ALLOW for r in tomorrow)
    assert (await ramp.send(s, acct("r"), DAY0 + DAY + 60_000)).reason == pb.NEW_ACCOUNT_LIMIT


async def test_replies_and_people_already_written_to_today_are_free(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    friend = acct("friend")
    await ramp.send(friend, s, at)  # the friend writes first: a conversation
    sent = await ramp.strangers(s, BASE + 1, at + 1000)  # one more: the friend earned it
    assert all(r.decision == pb.ALLOW for r in sent)
    again = [await ramp.send(s, friend, at + 20_000 + i) for i in range(5)]
    assert all(r.decision == pb.ALLOW for r in again)  # a reply, as often as they like
    first_stranger = sent[0]
    assert first_stranger.decision == pb.ALLOW
    usage = await ramp.usage(s, at + 30_000)
    assert (usage.new_conversations_today, usage.new_conversations_limit) == (BASE + 1, BASE + 1)


async def test_each_person_who_writes_back_earns_more(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    sent = []
    for i in range(BASE):
        r = acct("r")
        sent.append(r)
        assert (await ramp.send(s, r, at + i)).decision == pb.ALLOW
    assert (await ramp.send(s, acct("r"), at + 100)).reason == pb.NEW_ACCOUNT_LIMIT
    await ramp.sg.RecordReply(
        pb.RecordReplyRequest(replier=sent[0], replied_to=s, at_unix_ms=at + 200)
    )
    await ramp.sg.RecordReply(
        pb.RecordReplyRequest(replier=sent[1], replied_to=s, at_unix_ms=at + 201)
    )
    more = await ramp.strangers(s, 2 * PER_REPLY, at + 300)
    assert all(r.decision == pb.ALLOW for r in more)
    assert (await ramp.send(s, acct("r"), at + 400)).reason == pb.NEW_ACCOUNT_LIMIT


async def test_a_denied_stranger_may_be_retried_and_a_dry_run_counts_nothing(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    dry = [await ramp.send(s, acct("r"), at + i, dry_run=True) for i in range(BASE + 2)]
    assert all(r.decision == pb.ALLOW for r in dry)
    assert (await ramp.usage(s, at + 100)).new_conversations_today == 0
    people = [acct("r") for _ in range(BASE)]
    for i, p in enumerate(people):
        assert (await ramp.send(s, p, at + 200 + i)).decision == pb.ALLOW
    # The same people again today: not new conversations.
    again = [await ramp.send(s, p, at + 300) for p in people]
    assert all(r.decision == pb.ALLOW for r in again)
    # A replayed denial answers as it did.
    mid = acct("mid")
    denied = await ramp.send(s, acct("r"), at + 400, mid=mid)
    replay = await ramp.send(s, acct("r"), at + 500, mid=mid)
    assert denied.reason == replay.reason == pb.NEW_ACCOUNT_LIMIT and replay.duplicate


async def test_the_ramp_ends_with_age(ramp: Api) -> None:
    s = await ramp.young(DAY0 - 14 * DAY)
    sent = await ramp.strangers(s, BASE + 14 * PER_DAY + 5, DAY0 + 3_600_000)
    assert all(r.decision == pb.ALLOW for r in sent)
    assert not sent[-1].usage.HasField("new_conversations_limit")
    assert sent[-1].usage.new_conversations_today == 0


async def test_accounts_without_a_registration_date_and_businesses_have_no_ramp(
    ramp: Api,
) -> None:
    unknown = acct("unknown")  # never upserted: default limits (SPEC)
    sent = await ramp.strangers(unknown, BASE + 3, DAY0 + 3_600_000)
    assert all(r.decision == pb.ALLOW for r in sent)
    shop = await ramp.young(DAY0, kind=pb.BUSINESS)
    usage = await ramp.usage(shop, DAY0 + 3_600_000)
    assert not usage.HasField("new_conversations_limit")


async def test_a_reviewer_clears_it(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    await ramp.strangers(s, BASE, at)
    assert (await ramp.send(s, acct("r"), at + 100_000)).reason == pb.NEW_ACCOUNT_LIMIT
    await ramp.admin.ClearReview(pb.ClearReviewRequest(account=s, at_unix_ms=at + 200_000))
    sent = await ramp.strangers(s, 5, at + 300_000)
    assert all(r.decision == pb.ALLOW for r in sent)
    assert not sent[-1].usage.HasField("new_conversations_limit")


async def test_an_approved_exception_lifts_it_until_it_expires(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    await approve_exception(ramp.sg, ramp.admin, s, pb.INVITING_TO_LARGE_EVENT, 100, DAY0 + DAY, at)
    sent = await ramp.strangers(s, BASE + 5, at + 1000)
    assert all(r.decision == pb.ALLOW for r in sent)
    # Expired: the ramp holds again (day 1: BASE + PER_DAY).
    later = await ramp.strangers(s, BASE + PER_DAY + 1, DAY0 + DAY + 1000)
    assert [r.decision for r in later] == [pb.ALLOW] * (BASE + PER_DAY) + [pb.DENY]


async def test_batches_are_held_to_it_as_single_calls(ramp: Api) -> None:
    s = await ramp.young(DAY0)
    at = DAY0 + 3_600_000
    reqs = [
        pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=acct("m"), at_unix_ms=at + i)
        for i in range(BASE + 2)
    ]
    resp = await ramp.sg.CanSendBatch(pb.CanSendBatchRequest(requests=reqs))
    got = [(r.decision, r.reason) for r in resp.responses]
    assert got == [(pb.ALLOW, pb.REASON_UNSPECIFIED)] * BASE + [(pb.DENY, pb.NEW_ACCOUNT_LIMIT)] * 2


async def test_off_when_disabled(server_factory: ServerFactory, backend: Backend) -> None:
    server = await server_factory(
        redis_url=backend.url, ramp={"enabled": False, "daily_base": 1}, bulk={"enabled": False}
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        api = Api(ch)
        s = await api.young(DAY0)
        sent = await api.strangers(s, 5, DAY0 + 3_600_000)
        assert all(r.decision == pb.ALLOW for r in sent)
        assert not sent[-1].usage.HasField("new_conversations_limit")
