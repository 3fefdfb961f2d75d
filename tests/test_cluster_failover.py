"""Redis Cluster: a primary killed under load — the failure policy answers meanwhile, and
decisions recover by themselves after the replica takes over."""

from __future__ import annotations

import asyncio
import gc
import time

import grpc
import pytest

from sendgate.keys import account_key
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.cluster import RedisCluster
from tests.conftest import ServerFactory, acct


@pytest.mark.failover
@pytest.mark.timeout(120)
async def test_primary_killed_during_load(server_factory: ServerFactory) -> None:
    # A short node timeout makes the replica take over quickly; 2 s keeps a busy CI
    # machine from declaring healthy nodes dead.
    cluster = RedisCluster(node_timeout_ms=2000)
    cluster.start()
    server = None
    try:
        server = await server_factory(
            redis_url=cluster.url,
            failure_mode="fail_open",
            bulk={"enabled": False},
            limits={"personal_monthly": 100_000},
            redis={"timeout_ms": 300, "breaker_failures": 3, "breaker_open_ms": 200},
        )
        sender = acct("s")
        slot_owner = cluster.primary_for(account_key(sender))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            stub = pb_grpc.SendGateStub(ch)

            async def send(i: int) -> pb.CanSendResponse:
                req = pb.CanSendRequest(sender=sender, recipient=acct("r"), message_id=f"f{i}")
                return await stub.CanSend(req, timeout=2)  # type: ignore[no-any-return]

            assert not (await send(0)).degraded
            slot_owner.kill()
            degraded = recovered = 0
            deadline = time.monotonic() + 60
            for i in range(1, 2000):  # bounded in count and in time (60 s)
                if time.monotonic() > deadline:
                    break
                resp = await send(i)
                assert resp.decision == pb.ALLOW  # fail_open answers, never an error
                if resp.degraded:
                    degraded += 1
                elif degraded:
                    recovered += 1
                    if recovered >= 3:
                        break
                await asyncio.sleep(0.1)
            assert degraded > 0, "the kill should have been felt"
            assert recovered >= 3, "decisions should recover after failover"
    finally:
        if server is not None:
            await server.stop(0)
        gc.collect()
        cluster.close()
