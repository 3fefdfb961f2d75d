"""Bulk detection, bans and ban evasion (SPEC §1.3) through the gRPC API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from sendgate.keys import account_key
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import DAY, T0, Backend, ServerFactory, acct

HMAC_KEY = "test-hmac-key"


class Api:
    def __init__(self, server: SendGateServer, channel: grpc.aio.Channel) -> None:
        self.server = server
        self.sg = pb_grpc.SendGateStub(channel)
        self.admin = pb_grpc.SendGateAdminStub(channel)

    async def send(self, s: str, r: str, at: int) -> pb.CanSendResponse:
        return await self.sg.CanSend(  # type: ignore[no-any-return]
            pb.CanSendRequest(sender=s, recipient=r, message_id=acct("m"), at_unix_ms=at)
        )

    async def account(self, a: str, at: int = T0) -> pb.Account:
        resp = await self.admin.GetAccount(pb.GetAccountRequest(account=a, at_unix_ms=at))
        return resp.account  # type: ignore[no-any-return]


async def _api(
    server_factory: ServerFactory, backend: Backend, **overrides: object
) -> AsyncIterator[Api]:
    server = await server_factory(
        redis_url=backend.url,
        limits={"personal_monthly": 1000},
        ban_evasion={"hmac_key": HMAC_KEY},
        **overrides,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(server, ch)


@pytest_asyncio.fixture(scope="session")
async def deny(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(server_factory, backend):
        yield api


@pytest_asyncio.fixture(scope="session")
async def flag_only(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(server_factory, backend, bulk={"action": "flag"}):
        yield api


@pytest_asyncio.fixture(scope="session")
async def throttle(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(
        server_factory, backend, bulk={"action": "throttle", "throttle_factor": 0.1}
    ):
        yield api


async def blast(
    api: Api, sender: str, n: int, step_ms: int = 1000, start: int = T0
) -> list[pb.CanSendResponse]:
    return [await api.send(sender, acct("victim"), start + i * step_ms) for i in range(n)]


async def test_blaster_is_flagged_once_and_denied(deny: Api) -> None:
    s = acct("blaster")
    results = await blast(deny, s, 40)
    reasons = [r.reason for r in results]
    assert pb.SUSPECTED_BULK in reasons
    first = reasons.index(pb.SUSPECTED_BULK)
    assert all(r.decision == pb.DENY for r in results[first:])
    assert 10 <= first < 40  # the score needs a sample before it judges
    assert list(results[-1].usage.flags) == [pb.BULK_SUSPECTED]
    assert results[-1].retry_after_ms > 20 * DAY  # the flag lasts its period
    got = await deny.account(s, T0 + 45_000)
    assert got.bulk_score >= 0.8
    assert set(got.features) == {
        "new_recipients_per_minute", "new_recipients_per_hour", "unreplied_share",
        "early_burst", "negative_feedback", "regularity", "takeover",
    }  # fmt: skip
    assert got.features["unreplied_share"] == pytest.approx(1.0)
    assert list(got.usage.flags) == [pb.BULK_SUSPECTED]
    flags = deny.server.metrics.flags_raised.labels("bulk_suspected")._value.get()
    more = await blast(deny, s, 10, start=T0 + 40_000)
    assert deny.server.metrics.flags_raised.labels("bulk_suspected")._value.get() == flags
    assert all(r.reason == pb.SUSPECTED_BULK for r in more)
    # Replies still go through: someone writes to the blaster, who answers.
    friend = acct("friend")
    await deny.send(friend, s, T0 + 60_000)
    assert (await deny.send(s, friend, T0 + 61_000)).decision == pb.ALLOW


async def test_ordinary_person_is_left_alone(deny: Api) -> None:
    s = acct("person")
    friends = [acct("friend") for _ in range(5)]
    at = T0
    for day in range(10):
        for f in friends:
            at = T0 + day * DAY + hash(f) % 3_600_000
            await deny.send(f, s, at)  # friends write
            r = await deny.send(s, f, at + 120_000)  # and get answers
            assert r.decision == pb.ALLOW
        r = await deny.send(s, acct("new"), T0 + day * DAY + 7_200_000)  # one new contact a day
        assert r.decision == pb.ALLOW
    got = await deny.account(s, at)
    assert got.bulk_score < 0.1
    assert pb.BULK_SUSPECTED not in got.usage.flags


async def test_feature_arithmetic_regular_bot(deny: Api) -> None:
    bot = acct("bot")
    await deny.admin.UpsertAccount(
        pb.UpsertAccountRequest(account=bot, kind=pb.PERSONAL, registered_at=T0 - 3_600_000)
    )
    for i in range(12):  # exactly every 5 minutes: a machine
        await deny.send(bot, acct("v"), T0 + i * 300_000)
    got = await deny.account(bot, T0 + 11 * 300_000)
    f = got.features
    assert f["regularity"] == pytest.approx(1.0, abs=1e-6)
    assert f["new_recipients_per_minute"] == 1
    assert f["new_recipients_per_hour"] == 12  # all twelve fall in one clock hour
    assert f["unreplied_share"] == pytest.approx(1.0)
    assert f["early_burst"] == 0  # 12 in an hour is not a burst (threshold 20)
    for i in range(3):
        await deny.sg.RecordFeedback(
            pb.RecordFeedbackRequest(reporter=acct("r"), subject=bot, kind=pb.SPAM_REPORT,
                                     at_unix_ms=T0 + 4_000_000 + i)
        )  # fmt: skip
    assert (await deny.account(bot, T0 + 4_000_010)).features["negative_feedback"] == 3


async def test_fresh_account_bursting_right_after_registration(deny: Api) -> None:
    fresh = acct("fresh")
    await deny.admin.UpsertAccount(
        pb.UpsertAccountRequest(account=fresh, kind=pb.PERSONAL, registered_at=T0 - 60_000)
    )
    await blast(deny, fresh, 25, step_ms=20_000)  # 25 new contacts in 8 minutes
    got = await deny.account(fresh, T0 + 25 * 20_000)
    assert got.features["early_burst"] == 1


async def test_flag_only_action(flag_only: Api) -> None:
    results = await blast(flag_only, acct("blaster"), 30)
    assert all(r.decision == pb.ALLOW for r in results)
    assert pb.BULK_SUSPECTED in results[-1].usage.flags


async def test_throttle_action_lowers_the_limit(throttle: Api) -> None:
    results = await blast(throttle, acct("blaster"), 30)
    assert results[-1].usage.limit == 100  # 1000 x 0.1
    assert all(r.reason != pb.SUSPECTED_BULK for r in results)


async def test_ban_and_unban(deny: Api) -> None:
    s = acct("spammer")
    assert (await deny.send(s, acct("r"), T0)).decision == pb.ALLOW
    await deny.admin.BanAccount(pb.BanAccountRequest(account=s, reason="bulk", at_unix_ms=T0))
    banned = await deny.send(s, acct("r"), T0 + 1)
    assert (banned.decision, banned.reason) == (pb.DENY, pb.ACCOUNT_BANNED)
    assert banned.usage.status == pb.BANNED
    got = await deny.account(s, T0 + 2)
    assert got.banned and got.ban_reason == "bulk"
    await deny.admin.UnbanAccount(pb.UnbanAccountRequest(account=s, at_unix_ms=T0 + 3))
    assert (await deny.send(s, acct("r"), T0 + 4)).decision == pb.ALLOW
    assert not (await deny.account(s, T0 + 5)).banned


async def test_ban_evasion_strong_weak_and_none(deny: Api, backend: Backend) -> None:
    old = acct("old")
    device, card, net = f"device:{acct('d')}", f"payment:{acct('p')}", f"network:{acct('n')}"
    await deny.admin.BanAccount(
        pb.BanAccountRequest(account=old, reason="spam", identifiers=[device, card, net])
    )

    checked: list[str] = []

    async def check(*ids: str) -> pb.CheckRegistrationResponse:
        checked.append(acct("new"))
        resp = await deny.sg.CheckRegistration(
            pb.CheckRegistrationRequest(account=checked[-1], identifiers=list(ids))
        )
        return resp  # type: ignore[no-any-return]

    strong = await check(device, f"network:{acct('other')}")
    assert (strong.decision, list(strong.matched_banned_accounts)) == (pb.DENY, [old])
    weak = await check(net)
    assert (weak.decision, list(weak.matched_banned_accounts)) == (pb.REVIEW, [old])
    assert (await check(f"device:{acct('x')}")).decision == pb.ALLOW
    assert pb.BAN_EVASION in (await deny.account(checked[1])).usage.flags
    assert pb.BAN_EVASION not in (await deny.account(checked[2])).usage.flags
    assert deny.server.metrics.flags_raised.labels("ban_evasion")._value.get() >= 2
    # Identifiers are never stored in clear: not in any key or value, nor in events.
    secret_parts = [device.split(":", 1)[1], card.split(":", 1)[1], net.split(":", 1)[1]]
    scanned = list(backend.inspect.scan_iter(count=1000))
    assert account_key(old).encode() in scanned  # the scan reaches every node's keys
    for key in scanned:
        dump = key + (backend.inspect.dump(key) or b"")
        assert not any(p.encode() in dump for p in secret_parts), key
    # After an unban the identifiers no longer match.
    await deny.admin.UnbanAccount(pb.UnbanAccountRequest(account=old))
    assert (await check(device)).decision == pb.ALLOW


async def test_ban_input_errors(deny: Api, server_factory: ServerFactory) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await deny.admin.BanAccount(pb.BanAccountRequest(account="a", identifiers=["nokind"]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "identifiers[0]" in (info.value.details() or "")
    keyless = await server_factory()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{keyless.grpc_port}") as ch:
        admin = pb_grpc.SendGateAdminStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.BanAccount(pb.BanAccountRequest(account="a", identifiers=["device:1"]))
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        await admin.BanAccount(pb.BanAccountRequest(account=acct("a")))  # no identifiers: fine


async def test_event_schema(deny: Api, backend: Backend) -> None:
    s = acct("evented")
    await deny.admin.BanAccount(
        pb.BanAccountRequest(account=s, reason="r", identifiers=["device:zz"], at_unix_ms=T0)
    )
    entries: list[tuple[bytes, dict[bytes, bytes]]] = backend.inspect.xrange("sendgate:events")  # type: ignore[assignment]
    mine = [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]
    mine = [e for e in mine if e["account"] == s]
    assert mine == [
        {"type": "account_banned", "account": s, "at": str(T0), "reason": "r", "identifiers": "1"}
    ]


async def test_identifiers_never_reach_logs_or_metrics(
    deny: Api, caplog: pytest.LogCaptureFixture
) -> None:
    secret = acct("secret-device")
    caplog.set_level("DEBUG")
    await deny.admin.BanAccount(
        pb.BanAccountRequest(account=acct("b"), identifiers=[f"device:{secret}"])
    )
    await deny.sg.CheckRegistration(
        pb.CheckRegistrationRequest(account=acct("n"), identifiers=[f"device:{secret}"])
    )
    assert secret not in caplog.text
    from prometheus_client import generate_latest  # noqa: PLC0415

    assert secret.encode() not in generate_latest(deny.server.metrics.registry)
