"""Events stay off the answer's path: a slow stream never delays or fails a decision,
nor opens the breaker; the queued events still reach the stream (and ListEvents)."""

from __future__ import annotations

import asyncio

import grpc

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import T0, ServerFactory, acct
from tests.faultproxy import FaultProxy

DELAY_S = 0.15  # every Redis reply takes this long
DEADLINE_S = 0.25  # the chat server's deadline: room for one round trip, not two


async def test_a_denial_with_an_event_answers_within_one_round_trip(
    server_factory: ServerFactory,
) -> None:
    redis = RedisProcess(port=free_port())
    redis.start()
    assert redis.port is not None
    proxy = FaultProxy(redis.port, drop=0.0)
    await proxy.start()
    try:
        server = await server_factory(
            redis_url=proxy.url,
            limits={"personal_monthly": 1},
            bulk={"enabled": False},
            redis={"timeout_ms": 1000, "breaker_failures": 1},
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            stub = pb_grpc.SendGateStub(ch)
            admin = pb_grpc.SendGateAdminStub(ch)
            s = acct("slow-stream")
            first = await stub.CanSend(
                pb.CanSendRequest(sender=s, recipient=acct("r"), message_id="m1", at_unix_ms=T0)
            )
            assert first.counted and not first.degraded
            proxy.delay_s = DELAY_S
            # At the limit: the answer carries a limit_hit event. Were the event written
            # before answering, two round trips would not fit the deadline.
            denied = await stub.CanSend(
                pb.CanSendRequest(sender=s, recipient=acct("r"), message_id="m2", at_unix_ms=T0),
                timeout=DEADLINE_S,
            )
            assert (denied.decision, denied.reason) == (pb.DENY, pb.MONTHLY_UNREPLIED_LIMIT)
            assert not denied.degraded
            # The breaker (one failure opens it) saw no failure: the next answer is real.
            again = await stub.CanSend(
                pb.CanSendRequest(sender=s, recipient=acct("r"), message_id="m3", at_unix_ms=T0),
                timeout=DEADLINE_S,
            )
            assert again.decision == pb.DENY and not again.degraded
            proxy.delay_s = 0.0
            # The event was not lost: ListEvents waits for this sidecar's queue first.
            page = await admin.ListEvents(pb.ListEventsRequest(kinds=["limit_hit"], limit=1000))
            assert [e.account for e in page.events].count(s) == 1
    finally:
        await proxy.close()
        await asyncio.to_thread(redis.close)
