"""Bulk-detection features of issue 15: their storage across library versions, sliding
windows, the account's own baseline (takeover), through the gRPC API and a real Redis."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import DAY, T0, Backend, ServerFactory, acct, approve_exception

# bf is frozen (biz.lua): every library since issue 11 reads exactly this.
F_FMT = "<iIiIdddIdIdd"
# bx version 1: its head, then a ring of 32 times (s).
X_FMT = "<BiIiIiIIdI"
X_SIZE = struct.calcsize(X_FMT) + 4 * 32
HOUR = 3_600_000


class Api:
    def __init__(self, server: SendGateServer, channel: grpc.aio.Channel) -> None:
        self.server = server
        self.sg = pb_grpc.SendGateStub(channel)
        self.admin = pb_grpc.SendGateAdminStub(channel)

    async def send(self, s: str, r: str, at: int) -> pb.CanSendResponse:
        return await self.sg.CanSend(  # type: ignore[no-any-return]
            pb.CanSendRequest(sender=s, recipient=r, message_id=acct("m"), at_unix_ms=at)
        )

    async def features(self, a: str, at: int) -> dict[str, float]:
        resp = await self.admin.GetAccount(pb.GetAccountRequest(account=a, at_unix_ms=at))
        return dict(resp.account.features)


@pytest_asyncio.fixture(scope="session")
async def flag(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    # Flag only, a high limit: the features are what these tests read.
    server = await server_factory(
        redis_url=backend.url,
        limits={"personal_monthly": 100_000},
        bulk={"action": "flag", "takeover_floor": 10.0},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(server, ch)


def _raw(backend: Backend, account: str, suffix: str) -> bytes | None:
    v = backend.inspect.get(f"sg:{{{account}}}:{suffix}")
    return v  # type: ignore[return-value]


async def test_bf_stays_the_frozen_72_bytes_and_bx_is_versioned(
    flag: Api, backend: Backend
) -> None:
    s = acct("s")
    for i in range(3):
        await flag.send(s, acct("r"), T0 + i * 1000)
    bf = _raw(backend, s, "bf")
    assert bf is not None and len(bf) == 72  # what an older library reads as its own
    mb, mn, hb, hn, ls, *_ = struct.unpack(F_FMT, bf)
    assert (mb, mn, hb, hn, ls) == (T0 // 60_000, 3, T0 // HOUR, 3, T0 + 2000)
    bx = _raw(backend, s, "bx")
    assert bx is not None and len(bx) == X_SIZE and bx[0] == 1
    _, _, _, _, _, db, dn, *_ = struct.unpack_from(X_FMT, bx)
    assert (db, dn) == (T0 // DAY, 3)


async def test_a_newer_versions_fields_survive_this_library(flag: Api, backend: Backend) -> None:
    s = acct("s")
    await flag.send(s, acct("r"), T0)
    key = f"sg:{{{s}}}:bx"
    bx = _raw(backend, s, "bx")
    assert bx is not None
    # A version-2 library appended a field; this one must keep it byte for byte.
    tail = b"\x07future-field"
    backend.inspect.set(key, bytes([2]) + bx[1:] + tail)
    await flag.send(s, acct("r"), T0 + 1000)
    after = _raw(backend, s, "bx")
    assert after is not None and after[0] == 2 and after.endswith(tail)
    assert len(after) == X_SIZE + len(tail)
    assert struct.unpack_from(X_FMT, after)[6] == 2  # its own counters still advanced


async def test_an_older_library_writing_bf_meanwhile_is_not_lost(
    flag: Api, backend: Backend
) -> None:
    s = acct("s")
    await flag.send(s, acct("r"), T0)
    # An issue-11 library decides 5 more messages in this minute and hour: it rewrites
    # bf (72 B) and never touches bx, whose ring misses them.
    bf = _raw(backend, s, "bf")
    assert bf is not None
    f = list(struct.unpack(F_FMT, bf))
    f[1] += 5
    f[3] += 5
    backend.inspect.set(f"sg:{{{s}}}:bf", struct.pack(F_FMT, *f))
    await flag.send(s, acct("r"), T0 + 2000)
    got = await flag.features(s, T0 + 2000)
    assert got["new_recipients_per_minute"] == 7  # bf's counts, not the ring's 2
    assert got["new_recipients_per_hour"] == 7
    # A missing bx (accounts from before it existed) reads as defaults.
    backend.inspect.delete(f"sg:{{{s}}}:bx")
    await flag.send(s, acct("r"), T0 + 3000)
    assert (await flag.features(s, T0 + 3000))["new_recipients_per_hour"] == 8


async def test_twenty_new_recipients_straddling_a_clock_hour_count_as_twenty(
    flag: Api,
) -> None:
    s = acct("s")
    start = (T0 // HOUR) * HOUR + 31 * 60_000  # 12:31 … 13:28: two clock hours, 57 min
    for i in range(20):
        await flag.send(s, acct("r"), start + i * 3 * 60_000)
    last = start + 19 * 3 * 60_000
    got = await flag.features(s, last)
    assert got["new_recipients_per_hour"] == 20
    assert got["new_recipients_per_minute"] == 1


async def test_early_burst_across_an_hour_boundary(flag: Api) -> None:
    s = acct("fresh")
    start = (T0 // HOUR) * HOUR + 40 * 60_000
    await flag.admin.UpsertAccount(
        pb.UpsertAccountRequest(account=s, kind=pb.PERSONAL, registered_at=start - 60_000)
    )
    for i in range(20):  # 12:40 … 13:35, one every 2.9 minutes
        await flag.send(s, acct("r"), start + i * 174_000)
    assert (await flag.features(s, start + 19 * 174_000))["early_burst"] == 1


async def test_minute_window_slides_and_large_counts_use_weighted_buckets(flag: Api) -> None:
    s = acct("blaster")
    start = (T0 // 60_000) * 60_000 + 30_000  # second 30 of a minute
    for i in range(60):  # one new recipient a second for a minute: past the 32-entry ring
        await flag.send(s, acct("r"), start + i * 1000)
    last = start + 59_000
    got = await flag.features(s, last)
    # 30 in the previous minute (seconds 30-59), weighted by the 31 s of it still in
    # the window, plus 30 in this one: 30 + 30 x (1 - 29/60) = 45.5.
    assert got["new_recipients_per_minute"] == 45
    assert got["new_recipients_per_hour"] == 60
    # Two minutes later nothing is inside a minute's window.
    await flag.send(s, acct("r"), last + 120_000)
    assert (await flag.features(s, last + 120_000))["new_recipients_per_minute"] == 1


async def test_takeover_compares_today_with_the_accounts_own_past(flag: Api) -> None:
    s = acct("old")
    day0 = (T0 // DAY) * DAY
    for d in range(10):  # ten honest days: 12 new people a day
        for i in range(12):
            await flag.send(s, acct("r"), day0 + d * DAY + 3_600_000 + i * 600_000)
    hijack = day0 + 10 * DAY + 3_600_000
    for i in range(60):  # then a hijacker: 60 strangers in an hour
        await flag.send(s, acct("r"), hijack + i * 60_000)
    # The baseline folds each finished day into an EWMA (alpha 2 / (14 + 1)).
    a, bl = 2 / 15, 0.0
    for _ in range(10):
        bl += a * (12 - bl)
    got = await flag.features(s, hijack + 59 * 60_000)
    assert got["takeover"] == pytest.approx(60 / max(bl, 10.0), rel=1e-4)


@pytest_asyncio.fixture(scope="session")
async def deny(server_factory: ServerFactory, backend: Backend) -> AsyncIterator[Api]:
    # The shipped detector (deny), a monthly limit an event's invitations fit in.
    server = await server_factory(redis_url=backend.url, limits={"personal_monthly": 1000})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield Api(server, ch)


async def _invite(api: Api, s: str, start: int, n: int) -> list[pb.CanSendResponse]:
    """n strangers, one every 5 to 35 s (uneven, as a person): a burst of invitations."""
    gaps = [5_000 + (i * 7_919) % 30_000 for i in range(n)]
    out, at = [], start
    for i in range(n):
        at += gaps[i]
        out.append(await api.send(s, acct("guest"), at))
    return out


async def test_an_approved_exception_relaxes_the_features_it_explains(deny: Api) -> None:
    start = T0 + HOUR
    plain, organizer = acct("plain"), acct("organizer")
    # Without an exception the invitations look like bulk: flagged and denied.
    got = await _invite(deny, plain, start, 150)
    assert any(r.reason == pb.SUSPECTED_BULK for r in got)
    await approve_exception(
        deny.sg, deny.admin, organizer, pb.INVITING_TO_LARGE_EVENT, 300, T0 + 5 * DAY
    )
    got = await _invite(deny, organizer, start, 150)
    assert all(r.decision == pb.ALLOW for r in got)
    # The reviewer still sees the features as measured (only the score is relaxed).
    features = await deny.features(organizer, start + 30 * 60_000)
    assert features["new_recipients_per_hour"] >= 100
    assert features["unreplied_share"] == 1.0
    usage = await deny.sg.GetUsage(pb.GetUsageRequest(account=organizer, at_unix_ms=start))
    assert pb.BULK_SUSPECTED not in usage.usage.flags


async def test_the_relaxation_ends_with_the_exception(deny: Api) -> None:
    s = acct("organizer")
    await approve_exception(
        deny.sg, deny.admin, s, pb.TALKING_TO_CUSTOMERS_OR_EMPLOYEES, 300, T0 + DAY
    )
    # After it expires the same burst is scored in full.
    got = await _invite(deny, s, T0 + 2 * DAY, 150)
    assert any(r.reason == pb.SUSPECTED_BULK for r in got)


async def test_an_exception_does_not_excuse_machine_timing(deny: Api) -> None:
    s = acct("organizer")
    await approve_exception(deny.sg, deny.admin, s, pb.INVITING_TO_LARGE_EVENT, 300, T0 + 5 * DAY)
    # Exactly every 10 s, hundreds of strangers, spam reports: not what an event explains.
    start, flagged = T0 + HOUR, False
    for i in range(200):
        at = start + i * 10_000
        r = await deny.send(s, acct("r"), at)
        if i % 10 == 0:
            await deny.sg.RecordFeedback(
                pb.RecordFeedbackRequest(
                    reporter=acct("rep"), subject=s, kind=pb.SPAM_REPORT, at_unix_ms=at
                )
            )
        flagged = flagged or r.reason == pb.SUSPECTED_BULK
    assert flagged
