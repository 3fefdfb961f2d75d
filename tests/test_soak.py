"""Soak: sustained concurrent traffic; afterwards Redis's counters equal what was
acknowledged. Short by default (CI); SENDGATE_SOAK_SECONDS=600 for a long run."""

from __future__ import annotations

import asyncio
import os
import random
import time

import grpc

from sendgate.keys import account_base
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import Backend, ServerFactory, acct

SECONDS = float(os.environ.get("SENDGATE_SOAK_SECONDS", "4"))
MAX_CALLS = 2_000_000


async def test_soak_counts_match_redis(server_factory: ServerFactory, backend: Backend) -> None:
    redis_sync = backend.inspect
    server = await server_factory(
        redis_url=backend.url, limits={"personal_monthly": 1_000_000}, bulk={"enabled": False}
    )
    senders = [acct("soak") for _ in range(40)]
    counted: dict[str, int] = dict.fromkeys(senders, 0)
    calls = 0
    deadline = time.monotonic() + SECONDS
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = pb_grpc.SendGateStub(ch)

        async def worker(seed: int) -> None:
            nonlocal calls
            rng = random.Random(seed)
            for i in range(MAX_CALLS):
                if time.monotonic() > deadline:
                    return
                s = rng.choice(senders)
                # One message in ten repeats an earlier id of this worker (a client retry).
                mid = (
                    f"{seed}-{rng.randrange(max(1, i))}"
                    if i and rng.random() < 0.1
                    else f"{seed}-{i}"
                )
                resp = await stub.CanSend(
                    pb.CanSendRequest(sender=s, recipient=f"r-{seed}-{i}", message_id=mid),
                    timeout=5,
                )
                calls += 1
                assert not resp.degraded
                if resp.counted and not resp.duplicate:
                    counted[s] += 1

        await asyncio.gather(*(worker(k) for k in range(8)))
    assert calls > 0
    for s in senders:
        stored = sum(
            int(redis_sync.hget(k, "u") or 0) for k in redis_sync.scan_iter(account_base(s) + "q:*")
        )
        assert stored == counted[s], s
