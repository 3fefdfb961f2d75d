"""Registration velocity (issue 15): a crowd of registrations sharing a network or a
phone prefix within a short window asks for review. Real redis-server (and, with
`-m cluster`, a real Redis Cluster) and a real gRPC server; time moves by at_unix_ms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest_asyncio

from sendgate.v1 import sendgate_pb2 as pb
from tests.conftest import T0, Backend, ServerFactory, acct
from tests.test_abuse import HMAC_KEY, Api
from tests.test_linked import ban, events_of, register

MIN = 60_000
# The suite's policy: 5 other registrations within 10 minutes ask for review.
THRESHOLD = 5
WINDOW = 10 * MIN


@pytest_asyncio.fixture(scope="session")
async def crowd(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    server = await server_factory(
        redis_url=backend.url,
        limits={"personal_monthly": 1000},
        bulk={"enabled": False},
        ban_evasion={
            "hmac_key": HMAC_KEY,
            "velocity_threshold": THRESHOLD,
            "velocity_window_minutes": WINDOW // MIN,
        },
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(server, ch)


def velocity_metric(api: Api, kind: str) -> float:
    return api.server.metrics.registration_velocity.labels(kind)._value.get()  # type: ignore[no-any-return]


async def fill(api: Api, ident: str, n: int, start: int, step: int) -> list[str]:
    """n fresh accounts registering with `ident` (and their own device), `step` ms apart;
    every one of them is answered ALLOW."""
    accounts = [acct("crowd") for _ in range(n)]
    for i, a in enumerate(accounts):
        resp = await register(api, a, ident, f"device:{acct('dev')}", at=start + i * step)
        assert resp.decision == pb.ALLOW, (i, resp)
    return accounts


async def test_sixth_on_one_network_within_the_window_is_review_and_held(
    crowd: Api, backend: Backend
) -> None:
    net = f"network:{acct('campus')}"
    await fill(crowd, net, THRESHOLD, T0, MIN)  # 5 registrations over 4 minutes
    before = velocity_metric(crowd, "network")
    sixth, at = acct("sixth"), T0 + 9 * MIN
    resp = await register(crowd, sixth, net, f"device:{acct('dev')}", at=at)
    assert (resp.decision, list(resp.matched_banned_accounts)) == (pb.REVIEW, [])
    assert velocity_metric(crowd, "network") == before + 1
    # The answer's reason is in the events: the kind and the count, never the identifier.
    (ev,) = [e for e in events_of(backend, sixth) if e["type"] == "registration_velocity"]
    assert ev == {
        "type": "registration_velocity", "account": sixth, "at": str(at), "kind": "network",
        "count": str(THRESHOLD), "decision": "REVIEW",
    }  # fmt: skip
    assert not [e for e in events_of(backend, sixth) if e["type"] in ("ban_evasion", "flag_raised")]
    # Under review exactly as a weak match: review_daily_limit new conversations a day.
    got = await crowd.account(sixth, at + 1)
    assert got.under_review and got.review_daily_limit == 10 and pb.IN_REVIEW in got.usage.flags
    assert pb.BAN_EVASION not in got.usage.flags
    answers = [await crowd.send(sixth, acct("s"), at + 10 + i) for i in range(11)]
    assert [x.decision for x in answers[:10]] == [pb.ALLOW] * 10
    assert (answers[10].decision, answers[10].reason) == (pb.DENY, pb.UNDER_REVIEW)


async def test_the_same_crowd_spread_beyond_the_window_is_allowed(crowd: Api) -> None:
    net = f"network:{acct('campus')}"
    # 12 registrations 3 minutes apart: never more than 3 others within 10 minutes.
    await fill(crowd, net, 12, T0, 3 * MIN)
    # Five more long ago, then one now: those five are out of the window.
    old = f"network:{acct('old')}"
    await fill(crowd, old, THRESHOLD, T0, MIN)
    late = acct("late")
    resp = await register(crowd, late, old, at=T0 + 4 * MIN + WINDOW + 1)
    assert resp.decision == pb.ALLOW
    assert not (await crowd.account(late, T0 + 2 * WINDOW)).under_review


async def test_the_window_edge_counts_and_the_threshold_is_at_least(crowd: Api) -> None:
    net = f"network:{acct('edge')}"
    await fill(crowd, net, THRESHOLD - 1, T0, 1)
    assert (await register(crowd, acct("fifth"), net, at=T0 + WINDOW)).decision == pb.ALLOW
    # The first registration is exactly one window old: it still counts (5 others).
    assert (await register(crowd, acct("sixth"), net, at=T0 + WINDOW)).decision == pb.REVIEW


async def test_a_strong_banned_match_still_denies(crowd: Api, backend: Backend) -> None:
    net, device = f"network:{acct('n')}", f"device:{acct('d')}"
    banned = acct("banned")
    await ban(crowd, banned, T0 - MIN, device)
    await fill(crowd, net, THRESHOLD, T0, 1)
    evader = acct("evader")
    resp = await register(crowd, evader, net, device, at=T0 + MIN)
    assert (resp.decision, list(resp.matched_banned_accounts)) == (pb.DENY, [banned])
    (ev,) = [e for e in events_of(backend, evader) if e["type"] == "registration_velocity"]
    assert (ev["kind"], ev["count"], ev["decision"]) == ("network", str(THRESHOLD), "DENY")


async def test_phone_prefix_is_a_velocity_kind(crowd: Api, backend: Backend) -> None:
    prefix = f"phone_prefix:+44{acct('p')}"
    await fill(crowd, prefix, THRESHOLD, T0, 30_000)
    before = velocity_metric(crowd, "phone_prefix")
    a = acct("sim")
    resp = await register(crowd, a, prefix, f"network:{acct('own')}", at=T0 + 5 * MIN)
    assert resp.decision == pb.REVIEW
    assert velocity_metric(crowd, "phone_prefix") == before + 1
    kinds = [e["kind"] for e in events_of(backend, a) if e["type"] == "registration_velocity"]
    assert kinds == ["phone_prefix"]
    assert (await crowd.account(a, T0 + 6 * MIN)).under_review


async def test_a_shared_device_is_not_a_velocity_kind(crowd: Api, backend: Backend) -> None:
    device = f"device:{acct('cafe')}"
    accounts = [acct("cafe") for _ in range(3 * THRESHOLD)]
    for i, a in enumerate(accounts):
        assert (await register(crowd, a, device, at=T0 + i)).decision == pb.ALLOW
    for a in accounts:
        assert not [e for e in events_of(backend, a) if e["type"] == "registration_velocity"]


async def test_a_recheck_of_the_same_account_does_not_count_itself(crowd: Api) -> None:
    net = f"network:{acct('n')}"
    others = await fill(crowd, net, THRESHOLD - 1, T0, 1)
    me = acct("me")
    for i in range(2 * THRESHOLD):  # retried checks: still 4 others, never 5
        assert (await register(crowd, me, net, at=T0 + MIN + i)).decision == pb.ALLOW
    # A re-check of an earlier one sees the other three and me, not itself: 4.
    assert (await register(crowd, others[0], net, at=T0 + 2 * MIN)).decision == pb.ALLOW
    # I do count for a newcomer: 4 + me = 5.
    assert (await register(crowd, acct("new"), net, at=T0 + 3 * MIN)).decision == pb.REVIEW


async def test_threshold_zero_switches_velocity_off(
    server_factory: ServerFactory, backend: Backend
) -> None:
    server = await server_factory(
        redis_url=backend.url,
        ban_evasion={"hmac_key": HMAC_KEY, "velocity_threshold": 0},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        api = Api(server, ch)
        net = f"network:{acct('n')}"
        for i in range(3 * THRESHOLD):
            assert (await register(api, acct("x"), net, at=T0 + i)).decision == pb.ALLOW
