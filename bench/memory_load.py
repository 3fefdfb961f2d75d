"""Client process: the traffic whose Redis footprint bench/run.py measures.

    python -m bench.memory_load '{"kind": "sender", "target": "127.0.0.1:PORT", "senders": 1000}'
    python -m bench.memory_load '{"kind": "business", "target": "...", "business": "b",
                                  "users": 100000}'

`sender`: an ordinary month per sender (as bench/quick.py): 20 new contacts, 5 of
whom reply, then 60 messages inside those conversations.
`business`: a verified business climbs the tiers (half of each tier's users in a
day, then EvaluateTier the next day), then opens conversations with `users` opted-in
users within one day. User ids are 12 digits, like a phone number or a numeric id:
the bytes per user grow with the id's length. Prints
`{"status": "not implemented yet"}` when the server answers UpsertAccount with
UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from bench import mix
from bench.aioloop import run_in_loop
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

HOUR = 3_600_000
DAY = 24 * HOUR
T = TypeVar("T")
# Calls in flight. Few for batches: up to 1,000 scripts each, they queue behind each
# other in Redis, past the sidecar's 100 ms Redis budget. More for one-script calls.
BATCH_CONCURRENCY = 8
UNARY_CONCURRENCY = 32
BATCH = 1000  # the API's largest batch
MAX_CLIMB_STEPS = 8  # more than there are tiers
TIMEOUT_S = 30.0
ATTEMPTS = 4
RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
retries: Counter[str] = Counter()  # reported, so a run that needed retries shows it


async def _retry(call: Callable[[], Awaitable[T]]) -> T:
    """Retry a call the sidecar could not finish in its Redis budget.

    Safe: CanSend is idempotent by message_id, RecordReply and RecordOptIn by design.
    """
    for attempt in range(ATTEMPTS - 1):
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED:
                raise
            retries[exc.code().name] += 1
            await asyncio.sleep(0.05 * 2**attempt)
    return await call()


async def _batch(stub: Any, reqs: list[pb.CanSendRequest]) -> list[pb.CanSendResponse]:
    """CanSendBatch until no answer is degraded (fail_open answers record nothing)."""
    batch = pb.CanSendBatchRequest(requests=reqs)
    for attempt in range(ATTEMPTS):
        resp = await _retry(lambda: stub.CanSendBatch(batch, timeout=TIMEOUT_S))
        if not any(r.degraded for r in resp.responses):
            return list(resp.responses)
        retries["degraded_batch"] += 1
        await asyncio.sleep(0.05 * 2**attempt)
    raise RuntimeError(f"CanSendBatch still degraded after {ATTEMPTS} attempts")


async def _pool(
    jobs: Sequence[Callable[[], Awaitable[None]]], deadline: float, concurrency: int
) -> None:
    """Run the jobs, `concurrency` at a time, giving up at `deadline` (monotonic)."""
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:  # bounded: each job is taken once
            if time.monotonic() > deadline:
                raise TimeoutError("memory load ran past its deadline")
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def sender_month(stub: Any, senders: int, deadline: float) -> dict[str, Any]:
    def month(s: int) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            who = f"mem-{s}"
            first = [
                pb.CanSendRequest(
                    sender=who, recipient=f"mem-{s}-c{k}", message_id=f"{s}-n{k}",
                    at_unix_ms=mix.T0 + k * HOUR,
                )
                for k in range(20)
            ]  # fmt: skip
            await _batch(stub, first)
            for k in range(5):
                reply = pb.RecordReplyRequest(
                    replier=f"mem-{s}-c{k}", replied_to=who, at_unix_ms=mix.T0 + 25 * HOUR
                )
                await _retry(functools.partial(stub.RecordReply, reply, timeout=TIMEOUT_S))
            chat = [
                pb.CanSendRequest(
                    sender=who, recipient=f"mem-{s}-c{k % 5}", message_id=f"{s}-c{k}",
                    at_unix_ms=mix.T0 + 28 * HOUR + k * 60_000,
                )
                for k in range(60)
            ]  # fmt: skip
            await _batch(stub, chat)

        return job

    await _pool([month(s) for s in range(senders)], deadline, BATCH_CONCURRENCY)
    return {"senders": senders, "sample": "mem-7"}


async def _fill(stub: Any, biz: str, users: list[str], at: int, deadline: float) -> Counter[str]:
    """Opt `users` in, then message each once, spread over the 23 h after `at`."""

    def opt_in(u: str) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            req = pb.RecordOptInRequest(business=biz, user=u, opted_in=True, at_unix_ms=at)
            await _retry(lambda: stub.RecordOptIn(req, timeout=TIMEOUT_S))

        return job

    await _pool([opt_in(u) for u in users], deadline, UNARY_CONCURRENCY)
    step = max(1, 23 * HOUR // max(1, len(users)))
    outcomes: Counter[str] = Counter()
    for start in range(0, len(users), BATCH):
        if time.monotonic() > deadline:
            raise TimeoutError("memory load ran past its deadline")
        reqs = [
            pb.CanSendRequest(sender=biz, recipient=u, message_id=f"m-{u}",
                              at_unix_ms=at + HOUR + (start + k) * step)
            for k, u in enumerate(users[start : start + BATCH])
        ]  # fmt: skip
        outcomes.update(mix.outcome(r) for r in await _batch(stub, reqs))
    return outcomes


async def business_day(
    channel: grpc.aio.Channel, biz: str, users: int, deadline: float
) -> dict[str, Any]:
    stub, admin = pb_grpc.SendGateStub(channel), pb_grpc.SendGateAdminStub(channel)
    day0 = mix.T0 + 2 * DAY
    try:
        acct = await admin.UpsertAccount(
            pb.UpsertAccountRequest(
                account=biz, kind=pb.BUSINESS, business_verified=True, identity_verified=True,
                registered_at=mix.T0, at_unix_ms=day0,
            ),
            timeout=TIMEOUT_S,
        )  # fmt: skip
    except grpc.aio.AioRpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return {"status": "not implemented yet"}
        raise
    limit, day, climbed = int(acct.account.usage.tier_limit), 0, 0
    for _ in range(MAX_CLIMB_STEPS):
        if limit == 0 or limit >= users:
            break
        # upgrade_fraction: half the limit in 7 days, counted by a HyperLogLog (~1 % off).
        need = math.ceil(limit / 2 * 1.03) + 2
        names = [f"2{day:02d}{k:09d}" for k in range(need)]
        await _fill(stub, biz, names, day0 + day * DAY, deadline)
        climbed += need
        day += 1
        ev = await admin.EvaluateTier(
            pb.EvaluateTierRequest(account=biz, at_unix_ms=day0 + day * DAY), timeout=TIMEOUT_S
        )
        # The lazy hourly evaluation may have upgraded already during the fill.
        upgraded = int(ev.tier_limit)
        if upgraded != 0 and upgraded <= limit:
            raise RuntimeError(f"no upgrade from tier limit {limit}: {list(ev.reasons)}")
        limit = upgraded
    # A day later, so the climb's conversations (24 h slots) have all closed.
    start = day0 + (day + 1) * DAY
    names = [f"1{k:011d}" for k in range(users)]
    outcomes = await _fill(stub, biz, names, start, deadline)
    usage = await stub.GetUsage(
        pb.GetUsageRequest(account=biz, at_unix_ms=start + DAY), timeout=TIMEOUT_S
    )
    return {
        "status": "ok",
        "business": biz,
        "users": users,
        "tier_limit_reached": limit,
        "tier_limit_after": int(usage.usage.tier_limit),
        "unique_users_24h": int(usage.usage.unique_users_24h),
        "climb_users": climbed,
        "outcomes": dict(outcomes),
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + float(spec.get("max_seconds", 600))
    async with grpc.aio.insecure_channel(spec["target"]) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=20)
        if spec["kind"] == "sender":
            stub = pb_grpc.SendGateStub(channel)
            result = await sender_month(stub, int(spec["senders"]), deadline)
        else:
            biz, users = str(spec["business"]), int(spec["users"])
            result = await business_day(channel, biz, users, deadline)
    return {**result, "retries": dict(retries)}


def main() -> int:
    spec = json.loads(sys.argv[1])
    print(json.dumps(run_in_loop(lambda: run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
