"""The store's decision path on the multiplexed connection, end to end through gRPC:
every call the gate makes per message shares one connection per Redis node; a
connection lost with 100 CanSend calls in flight answers each by the failure policy,
never resends one, and retries with the same message_id count each message exactly
once. Also: the embedded Redis's start-up probe closes its socket on every path."""

from __future__ import annotations

import asyncio
import gc
import signal
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.server import SendGateServer
from sendgate.store.cluster_client import TrackedRedisCluster
from sendgate.store.mux import MuxCluster, MuxConnection
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.cluster import RedisCluster
from tests.conftest import ServerFactory, acct
from tests.faultproxy import FaultProxy

IN_FLIGHT = 100


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc
    proc.close()


@pytest_asyncio.fixture
async def proxy(own_redis: RedisProcess) -> AsyncIterator[FaultProxy]:
    p = FaultProxy(own_redis.port or 0, drop=0.0)
    await p.start()
    yield p
    await p.close()


async def until(check: Callable[[], bool], what: str, tries: int = 400) -> None:
    """Wait for something already under way (bounded: tries x 5 ms)."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def mux_of(server: SendGateServer) -> MuxConnection | MuxCluster:
    assert server.store is not None
    return server.store._calls.mux


def fcalls(client: redis.Redis) -> int:
    """FCALLs Redis has run so far (INFO commandstats)."""
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_fcall", {}).get("calls", 0))


def send(sender: str, mid: str, i: int = 0) -> pb.CanSendRequest:
    return pb.CanSendRequest(sender=sender, recipient=f"r{i}-{sender}", message_id=mid)


async def every_decision_rpc(stub: pb_grpc.SendGateStub) -> None:
    """Each call the gate makes per message, 64 CanSend at once among them."""
    s, b = acct("s"), acct("b")
    got = await asyncio.gather(*(stub.CanSend(send(s, f"m{i}", i)) for i in range(64)))
    assert not any(r.degraded for r in got)
    batch = await stub.CanSendBatch(
        pb.CanSendBatchRequest(requests=[send(acct("s"), "b", i) for i in range(8)])
    )
    assert not any(r.degraded for r in batch.responses)

    async def stream() -> AsyncIterator[pb.CanSendRequest]:
        for i in range(4):
            yield send(s, f"st{i}", 100 + i)

    streamed = [r async for r in stub.CanSendStream(stream())]
    assert len(streamed) == 4 and not any(r.degraded for r in streamed)
    await stub.RecordReply(pb.RecordReplyRequest(replier=f"r0-{s}", replied_to=s))
    await stub.RecordFeedback(
        pb.RecordFeedbackRequest(reporter=acct("u"), subject=b, kind=pb.SPAM_REPORT)
    )
    await stub.RecordOptIn(pb.RecordOptInRequest(business=b, user=acct("u"), opted_in=True))
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s))
    assert usage.usage.used == 64 + 4 - 1  # the reply refunded one


async def test_decisions_share_one_connection(
    server_factory: ServerFactory, own_redis: RedisProcess
) -> None:
    server = await server_factory(redis_url=own_redis.url, bulk={"enabled": False})
    mux = mux_of(server)
    assert isinstance(mux, MuxConnection)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        await every_decision_rpc(pb_grpc.SendGateStub(ch))
    assert mux._proto is not None and mux._proto.transport is not None
    host, port = mux._proto.transport.get_extra_info("sockname")[:2]
    inspect = redis.Redis.from_url(own_redis.url)
    try:
        me = inspect.client_id()
        clients = [c for c in inspect.client_list() if int(c["id"]) != me]
        decided = [c for c in clients if c["cmd"] in ("fcall", "xadd")]
        # The mux connection ran them all; redis-py's one start-up connection none.
        assert [c["addr"] for c in decided] == [f"{host}:{port}"]
        assert len(clients) == 2, clients
    finally:
        inspect.close()
    assert mux.connects == 1


@pytest.mark.cluster
async def test_cluster_decisions_open_no_redis_py_connection(
    server_factory: ServerFactory, redis_cluster: RedisCluster
) -> None:
    server = await server_factory(redis_url=redis_cluster.url, bulk={"enabled": False})
    assert server.store is not None
    mux, admin = mux_of(server), server.store._client
    assert isinstance(mux, MuxCluster) and isinstance(admin, TrackedRedisCluster)
    before = admin.open_connections  # start-up checks (INFO on every node, FUNCTION LOAD)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        await every_decision_rpc(pb_grpc.SendGateStub(ch))
    assert admin.open_connections == before
    assert len(mux.primaries) == 3
    assert all(mux.node(a).connected for a in mux.primaries)


@pytest.mark.parametrize("mode", ["fail_open", "fail_closed"])
async def test_connection_lost_with_100_calls_in_flight_then_retried_exactly(
    mode: str,
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    proxy: FaultProxy,
) -> None:
    server = await server_factory(
        redis_url=proxy.url,
        failure_mode=mode,
        limits={"personal_monthly": 10_000},
        bulk={"enabled": False},
        # Roomy budget: the calls wait for the paused Redis, never time out. No breaker,
        # no health pings: every call goes to Redis and nothing else is in flight.
        redis={"timeout_ms": 20_000, "breaker_failures": 1000, "health_interval_ms": 60_000},
    )
    mux = mux_of(server)
    assert isinstance(mux, MuxConnection)
    inspect = redis.Redis.from_url(own_redis.url)
    errors = server.metrics.redis_errors.labels("connection")
    s = acct("s")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = pb_grpc.SendGateStub(ch)
        assert not (await stub.CanSend(send(s, "warm", -1), timeout=5)).degraded
        ran_before, errors_before = fcalls(inspect), errors._value.get()
        # Redis paused: all 100 are written and wait in its input; then every reply is
        # lost and the connection closed while all 100 are in flight.
        own_redis.signal(signal.SIGSTOP)
        try:
            calls = [
                asyncio.ensure_future(stub.CanSend(send(s, f"m{i}", i), timeout=30))
                for i in range(IN_FLIGHT)
            ]
            await until(lambda: mux.in_flight == IN_FLIGHT, "100 calls written")
            proxy.drop = 1.0
        finally:
            own_redis.signal(signal.SIGCONT)
        answers = await asyncio.gather(*calls)
        if mode == "fail_open":
            assert {(a.decision, a.degraded) for a in answers} == {(pb.ALLOW, True)}
        else:
            assert {(a.decision, a.reason, a.degraded) for a in answers} == {
                (pb.DENY, pb.BACKEND_UNAVAILABLE, True)
            }
        assert errors._value.get() - errors_before == IN_FLIGHT  # one Redis error each
        ran = fcalls(inspect) - ran_before
        assert 1 <= ran <= IN_FLIGHT  # a reply was produced (then lost): some ran

        proxy.drop = 0.0
        used = (await stub.GetUsage(pb.GetUsageRequest(account=s), timeout=5)).usage.used
        assert used == 1 + ran  # each one that ran counted once, none resent

        # The chat server retries every unknown outcome with its message_id.
        duplicates = 0
        for i in range(IN_FLIGHT):
            for _ in range(10):  # bounded; the connection is healthy again
                again = await stub.CanSend(send(s, f"m{i}", i), timeout=5)
                if not again.degraded:
                    duplicates += again.duplicate
                    break
            else:
                raise AssertionError(f"m{i} never got a definite answer")
        assert duplicates == ran  # those that ran are replays, the others count now
        usage = await stub.GetUsage(pb.GetUsageRequest(account=s), timeout=5)
        assert usage.usage.used == 1 + IN_FLIGHT
    inspect.close()


def test_start_up_probe_closes_its_socket_before_the_server_is_up() -> None:
    proc = RedisProcess()  # unix socket; not started: the connect fails
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            assert not proc._answers_ping()
            gc.collect()  # an unclosed socket would warn here
    finally:
        proc.close()
