"""CanSendBatch decides a sender's messages against state read once per call (the
month's counters, the message ids, the conversations, the features) and written once.
It must answer exactly as the same messages sent one CanSend at a time: both runs here
replay one random script on twin senders and compare every answer and the usage after.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import ServerFactory, acct

# Three days before a month's end, so a script's client times cross into the next month.
MONTH_END = int(dt.datetime(2026, 6, 30, 23, 0, tzinfo=dt.UTC).timestamp() * 1000)
HOUR = 3_600_000


@pytest_asyncio.fixture(scope="module", params=["bulk_off", "bulk_on"])
async def sg(
    server_factory: ServerFactory, request: pytest.FixtureRequest
) -> AsyncIterator[pb_grpc.SendGateStub]:
    server = await server_factory(
        limits={"personal_monthly": 6, "warn_ratio": 0.5, "username_monthly": 2},
        bulk={"enabled": request.param == "bulk_on"},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield pb_grpc.SendGateStub(channel)


def script(rng: random.Random, n: int) -> list[tuple[int, int, int, bool, int]]:
    """(recipient index, message number, via, dry_run, client time): recipients 1 and 2
    have written to the sender, message numbers repeat (replays)."""
    out: list[tuple[int, int, int, bool, int]] = []
    t = MONTH_END - rng.randrange(3) * HOUR
    for i in range(n):
        t += rng.choice([0, 1, 1000, 20 * 60_000, HOUR])
        mid = rng.randrange(i) if i and rng.random() < 0.15 else i
        via = pb.USERNAME if rng.random() < 0.3 else pb.PHONE_NUMBER
        out.append((rng.randrange(8), mid, via, rng.random() < 0.1, t))
    return out


def as_request(sender: str, step: tuple[int, int, int, bool, int]) -> pb.CanSendRequest:
    who, mid, via, dry, at = step
    recipient = f"{sender}-r{who}"
    return pb.CanSendRequest(
        sender=sender, recipient=recipient, message_id=f"m{mid}", via=via,  # type: ignore[arg-type]
        dry_run=dry, at_unix_ms=at,
    )  # fmt: skip


def answer(r: pb.CanSendResponse) -> tuple[object, ...]:
    u = r.usage
    return (
        (r.decision, r.reason, r.counted, r.warning, r.retry_after_ms, r.duplicate),
        (u.used, u.limit, u.remaining, u.resets_at, u.username_used, u.username_limit),
    )


async def prepare(sg: pb_grpc.SendGateStub, sender: str) -> None:
    for who in (1, 2):
        at = MONTH_END - 3 * HOUR
        await sg.RecordReply(
            pb.RecordReplyRequest(replier=f"{sender}-r{who}", replied_to=sender, at_unix_ms=at)
        )


@pytest.mark.parametrize("seed", range(12))
async def test_a_batch_answers_as_calls_in_a_row(sg: pb_grpc.SendGateStub, seed: int) -> None:
    rng = random.Random(seed)
    steps = script(rng, rng.randrange(2, 40))
    one, batch = acct("one"), acct("batch")
    await prepare(sg, one)
    await prepare(sg, batch)

    singles = [answer(await sg.CanSend(as_request(one, s))) for s in steps]
    reply = await sg.CanSendBatch(
        pb.CanSendBatchRequest(requests=[as_request(batch, s) for s in steps])
    )
    assert [answer(r) for r in reply.responses] == singles

    # The state written once at the end is the state the calls left, in every month.
    for at in (MONTH_END, MONTH_END + 30 * 24 * HOUR):
        u1 = await sg.GetUsage(pb.GetUsageRequest(account=one, at_unix_ms=at))
        u2 = await sg.GetUsage(pb.GetUsageRequest(account=batch, at_unix_ms=at))
        assert u2.usage == u1.usage
    # And the next decisions agree (conversations and message ids were kept alike).
    later = [(i % 8, i % 5, pb.PHONE_NUMBER, False, steps[-1][4] + 1) for i in range(10)]
    for s in later:
        a1 = answer(await sg.CanSend(as_request(one, s)))
        a2 = answer(await sg.CanSend(as_request(batch, s)))
        assert a2 == a1
