"""Linked (duplicate) accounts and accounts under review (SPEC §1.3, issue 13), through
the gRPC API on standalone Redis and Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from sendgate.keys import account_base
from sendgate.v1 import sendgate_pb2 as pb
from tests.conftest import DAY, T0, Backend, ServerFactory, acct
from tests.test_abuse import HMAC_KEY, Api


async def _api(server_factory: ServerFactory, backend: Backend, action: str) -> AsyncIterator[Api]:
    server = await server_factory(
        redis_url=backend.url,
        limits={"personal_monthly": 1000},
        bulk={"enabled": False},
        ban_evasion={"hmac_key": HMAC_KEY, "linked_action": action},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(server, ch)


@pytest_asyncio.fixture(scope="session")
async def flag(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(server_factory, backend, "flag"):
        yield api


@pytest_asyncio.fixture(scope="session")
async def restrict(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(server_factory, backend, "restrict"):
        yield api


@pytest_asyncio.fixture(scope="session")
async def ban_too(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    async for api in _api(server_factory, backend, "ban"):
        yield api


async def register(api: Api, account: str, *ids: str, at: int = T0) -> pb.CheckRegistrationResponse:
    return await api.sg.CheckRegistration(  # type: ignore[no-any-return]
        pb.CheckRegistrationRequest(account=account, identifiers=list(ids), at_unix_ms=at)
    )


async def ban(api: Api, account: str, at: int, *ids: str) -> None:
    await api.admin.BanAccount(
        pb.BanAccountRequest(account=account, reason="spam", identifiers=list(ids), at_unix_ms=at)
    )


async def unban(api: Api, account: str, at: int) -> None:
    await api.admin.UnbanAccount(pb.UnbanAccountRequest(account=account, at_unix_ms=at))


async def links(api: Api, account: str, at: int) -> list[pb.LinkedAccount]:
    resp = await api.admin.ListLinkedAccounts(
        pb.ListLinkedAccountsRequest(account=account, at_unix_ms=at)
    )
    return list(resp.links)


def events_of(backend: Backend, account: str) -> list[dict[str, str]]:
    entries = backend.inspect.xrange("sendgate:events")
    out = [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]  # type: ignore[union-attr]
    return [e for e in out if e["account"] == account]


def linked_metric(api: Api) -> float:
    return api.server.metrics.flags_raised.labels("linked_to_banned")._value.get()  # type: ignore[no-any-return]


async def test_ban_flags_the_account_on_the_same_device_once(flag: Api, backend: Backend) -> None:
    a, b, device = acct("banned"), acct("dup"), f"device:{acct('d')}"
    assert (await register(flag, a, device, f"network:{acct('n')}")).decision == pb.ALLOW
    assert (await register(flag, b, device, at=T0 + 1)).decision == pb.ALLOW
    before = linked_metric(flag)
    await ban(flag, a, T0 + 10)
    got = await flag.account(b, T0 + 11)
    assert pb.LINKED_TO_BANNED in got.usage.flags and pb.IN_REVIEW in got.usage.flags
    assert (got.under_review, got.review_daily_limit, list(got.linked_to_banned)) == (True, 10, [a])
    (link,) = await links(flag, b, T0 + 12)
    assert (link.account, list(link.shared_kinds), link.strong, link.banned) == (
        a, ["device"], True, True,
    )  # fmt: skip
    linked = [e for e in events_of(backend, b) if e["type"] == "account_linked"]
    assert linked == [{
        "type": "account_linked", "account": b, "at": str(T0 + 10), "banned_account": a,
        "linked_account": b, "shared_kinds": "device",
    }]  # fmt: skip
    assert linked_metric(flag) == before + 1
    # A retried ban links nobody twice: no second event, no second count.
    await ban(flag, a, T0 + 20)
    assert len([e for e in events_of(backend, b) if e["type"] == "account_linked"]) == 1
    assert linked_metric(flag) == before + 1
    # The unban lifts what that ban caused.
    await unban(flag, a, T0 + 30)
    got = await flag.account(b, T0 + 31)
    assert pb.LINKED_TO_BANNED not in got.usage.flags and pb.IN_REVIEW not in got.usage.flags
    assert not got.under_review and not got.linked_to_banned
    (link,) = await links(flag, b, T0 + 32)
    assert (link.account, link.banned) == (a, False)


async def test_weak_matches_are_listed_not_flagged(flag: Api) -> None:
    a, b, net = acct("banned"), acct("neighbour"), f"network:{acct('n')}"
    await register(flag, a, net)
    await register(flag, b, net, f"device:{acct('own')}")
    await ban(flag, a, T0 + 10)
    got = await flag.account(b, T0 + 11)
    assert pb.LINKED_TO_BANNED not in got.usage.flags and not got.under_review
    (link,) = await links(flag, b, T0 + 12)
    assert (link.account, list(link.shared_kinds), link.strong, link.banned) == (
        a, ["network"], False, True,
    )  # fmt: skip


async def test_restrict_allows_replies_only_until_the_unban(restrict: Api) -> None:
    a, b, card = acct("banned"), acct("dup"), f"payment:{acct('p')}"
    await register(restrict, a, card)
    await register(restrict, b, card)
    friend = acct("friend")
    await restrict.send(friend, b, T0 + 5)  # the friend wrote to b: b's answer is a reply
    await ban(restrict, a, T0 + 10)
    got = await restrict.account(b, T0 + 11)
    assert (got.under_review, got.review_daily_limit) == (True, 0)
    new = await restrict.send(b, acct("stranger"), T0 + 12)
    assert (new.decision, new.reason) == (pb.DENY, pb.UNDER_REVIEW)
    assert (await restrict.send(b, friend, T0 + 13)).decision == pb.ALLOW
    await unban(restrict, a, T0 + 20)
    assert (await restrict.send(b, acct("stranger"), T0 + 21)).decision == pb.ALLOW


async def test_ban_action_bans_the_linked_account_and_the_unban_lifts_it(
    ban_too: Api, backend: Backend
) -> None:
    a, b, device = acct("banned"), acct("dup"), f"device:{acct('d')}"
    await register(ban_too, a, device)
    await register(ban_too, b, device)
    await ban(ban_too, a, T0 + 10)
    got = await ban_too.account(b, T0 + 11)
    assert got.banned and got.ban_reason == f"linked to {a}"
    assert (await ban_too.send(b, acct("r"), T0 + 12)).reason == pb.ACCOUNT_BANNED
    banned = [e for e in events_of(backend, b) if e["type"] == "account_banned"]
    assert banned and banned[0]["caused_by"] == a
    await unban(ban_too, a, T0 + 20)
    got = await ban_too.account(b, T0 + 21)
    assert not got.banned and pb.LINKED_TO_BANNED not in got.usage.flags
    assert (await ban_too.send(b, acct("r"), T0 + 22)).decision == pb.ALLOW


async def test_reviewer_ban_of_a_linked_account_outlasts_the_cause_unban(ban_too: Api) -> None:
    a, b, device = acct("banned"), acct("dup"), f"device:{acct('d')}"
    await register(ban_too, a, device)
    await register(ban_too, b, device)
    await ban(ban_too, a, T0 + 10)
    await ban(ban_too, b, T0 + 11)  # the reviewer's own ban: not the link's any more
    await unban(ban_too, a, T0 + 20)
    assert (await ban_too.account(b, T0 + 21)).banned


async def test_registration_after_the_ban_is_denied_and_linked(flag: Api) -> None:
    a, device = acct("banned"), f"device:{acct('d')}"
    await register(flag, a, device)
    await ban(flag, a, T0 + 10)  # no identifiers given: its registration's count
    c = acct("evader")
    resp = await register(flag, c, device, at=T0 + 20)
    assert (resp.decision, list(resp.matched_banned_accounts)) == (pb.DENY, [a])
    got = await flag.account(c, T0 + 21)
    assert pb.LINKED_TO_BANNED in got.usage.flags and list(got.linked_to_banned) == [a]


async def test_review_account_gets_ten_new_conversations_a_day_and_every_reply(
    flag: Api, backend: Backend
) -> None:
    a, net = acct("banned"), f"network:{acct('n')}"
    await ban(flag, a, T0, net)
    r = acct("review")
    assert (await register(flag, r, net, at=T0 + 1)).decision == pb.REVIEW
    friend = acct("friend")
    await flag.send(friend, r, T0 + 2)
    strangers = [acct("s") for _ in range(11)]
    answers = [await flag.send(r, s, T0 + 10 + i) for i, s in enumerate(strangers)]
    assert [x.decision for x in answers[:10]] == [pb.ALLOW] * 10
    assert (answers[10].decision, answers[10].reason) == (pb.DENY, pb.UNDER_REVIEW)
    assert answers[10].retry_after_ms > 0
    assert (await flag.send(r, strangers[0], T0 + 30)).decision == pb.ALLOW  # known today
    assert (await flag.send(r, friend, T0 + 31)).decision == pb.ALLOW  # a reply
    got = await flag.account(r, T0 + 32)
    assert got.under_review and pb.IN_REVIEW in got.usage.flags
    # The next UTC day brings a fresh allowance.
    assert (await flag.send(r, acct("s"), T0 + DAY)).decision == pb.ALLOW
    cleared = await flag.admin.ClearReview(pb.ClearReviewRequest(account=r, at_unix_ms=T0 + 40))
    assert cleared.cleared
    assert (await flag.send(r, strangers[10], T0 + 41)).decision == pb.ALLOW
    got = await flag.account(r, T0 + 42)
    assert not got.under_review and pb.IN_REVIEW not in got.usage.flags
    assert [e["type"] for e in events_of(backend, r)].count("review_cleared") == 1
    again = await flag.admin.ClearReview(pb.ClearReviewRequest(account=r, at_unix_ms=T0 + 43))
    assert not again.cleared


async def test_clear_review_of_a_linked_account_keeps_the_flag(flag: Api) -> None:
    a, b, device = acct("banned"), acct("dup"), f"device:{acct('d')}"
    await register(flag, a, device)
    await register(flag, b, device)
    await ban(flag, a, T0 + 10)
    await flag.admin.ClearReview(pb.ClearReviewRequest(account=b, at_unix_ms=T0 + 11))
    got = await flag.account(b, T0 + 12)
    assert not got.under_review and pb.LINKED_TO_BANNED in got.usage.flags
    answers = [await flag.send(b, acct("s"), T0 + 20 + i) for i in range(11)]
    assert all(x.decision == pb.ALLOW for x in answers)


async def test_a_ban_ends_a_review(flag: Api) -> None:
    a, net = acct("banned"), f"network:{acct('n')}"
    await ban(flag, a, T0, net)
    r = acct("review")
    await register(flag, r, net, at=T0 + 1)
    await ban(flag, r, T0 + 2)
    await unban(flag, r, T0 + 3)
    assert not (await flag.account(r, T0 + 4)).under_review


async def test_forget_account_leaves_no_key_of_its_identifiers(flag: Api, backend: Backend) -> None:
    x, other = acct("forget"), acct("stays")
    ids = [f"device:{acct('d')}", f"payment:{acct('p')}", f"network:{acct('n')}"]
    await register(flag, x, *ids)
    await register(flag, other, ids[0])
    resp = await flag.admin.ForgetAccount(pb.ForgetAccountRequest(account=x, at_unix_ms=T0 + 5))
    assert resp.forgotten == 3
    assert not backend.inspect.exists(account_base(x) + "rid")
    for key in backend.inspect.scan_iter(match="sgr:*", count=1000):
        assert backend.inspect.zscore(key, x) is None, key
    assert await links(flag, x, T0 + 6) == []
    assert await links(flag, other, T0 + 7) == []  # nothing of x is left to link
    assert "account_forgotten" in [e["type"] for e in events_of(backend, x)]


async def test_registration_identifiers_never_stored_in_clear(flag: Api, backend: Backend) -> None:
    values = [acct("dv"), acct("pv"), acct("nv")]
    kinds = ["device", "payment", "network"]
    a, b = acct("a"), acct("b")
    await register(flag, a, *(f"{k}:{v}" for k, v in zip(kinds, values, strict=True)))
    await register(flag, b, f"device:{values[0]}")
    await ban(flag, a, T0 + 10)
    await links(flag, b, T0 + 11)
    scanned = list(backend.inspect.scan_iter(count=1000))
    assert any(k.startswith(b"sgr:") for k in scanned)
    assert (account_base(a) + "rid").encode() in scanned
    for key in scanned:
        dump = key + (backend.inspect.dump(key) or b"")
        assert not any(v.encode() in dump for v in values), key


async def test_linked_input_errors(flag: Api) -> None:
    for call, req in (
        (flag.admin.ListLinkedAccounts, pb.ListLinkedAccountsRequest(account="")),
        (flag.admin.ForgetAccount, pb.ForgetAccountRequest(account="")),
        (flag.admin.ClearReview, pb.ClearReviewRequest(account="x" * 1000)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "account" in (info.value.details() or "")
