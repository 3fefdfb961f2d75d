"""Redis faults: the failure policy answers within the deadline; recovery is automatic."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
import pytest_asyncio
import redis as redis_sync
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sendgate.breaker import BreakerState
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.errors import BackendError, StartupError
from sendgate.keys import account_base, account_key
from sendgate.server import SendGateServer
from sendgate.store.redis_store import RedisStore
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.cluster import RedisCluster
from tests.conftest import T0, ServerFactory, acct
from tests.faultproxy import FaultProxy

FAST = {"timeout_ms": 200, "breaker_failures": 2, "breaker_open_ms": 100, "health_interval_ms": 50}


@pytest.fixture
def own_redis() -> AsyncIterator[RedisProcess]:  # type: ignore[misc]
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc
    proc.close()


async def until(check: Callable[[], object], what: str, attempts: int = 200) -> None:
    """Poll a condition that another process makes true (bounded: 200 x 25 ms)."""
    for _ in range(attempts):
        if await check():  # type: ignore[misc]
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def health_status(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    resp = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
    return int(resp.status)


@pytest_asyncio.fixture(loop_scope="session")
async def channel_to() -> AsyncIterator[Callable[[SendGateServer], grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []

    def make(server: SendGateServer) -> grpc.aio.Channel:
        ch = grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        channels.append(ch)
        return ch

    yield make
    for ch in channels:
        await ch.close()


def msg(sender: str) -> pb.CanSendRequest:
    return pb.CanSendRequest(sender=sender, recipient=acct("r"), message_id=acct("m"))


async def test_fail_open_allows_degraded_and_recovers(
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    server = await server_factory(redis_url=own_redis.url, failure_mode="fail_open", redis=FAST)
    channel = channel_to(server)
    stub = pb_grpc.SendGateStub(channel)
    s = acct("s")
    ok = await stub.CanSend(msg(s), timeout=2)
    assert not ok.degraded

    own_redis.kill()
    resp = await stub.CanSend(msg(s), timeout=1)
    assert (resp.decision, resp.degraded) == (pb.ALLOW, True)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.RecordReply(pb.RecordReplyRequest(replier="x", replied_to=s), timeout=1)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    # The breaker opens, health turns NOT_SERVING; the server keeps answering.
    for _ in range(3):
        assert (await stub.CanSend(msg(s), timeout=1)).degraded
    assert server.guard is not None
    assert server.guard.breaker.state in (BreakerState.OPEN, BreakerState.HALF_OPEN)

    async def not_serving() -> bool:
        return await health_status(channel) == int(health_pb2.HealthCheckResponse.NOT_SERVING)

    await until(not_serving, "NOT_SERVING")

    own_redis.start()  # same port, empty data, no functions loaded (missing library path)

    async def recovered() -> bool:
        r = await stub.CanSend(msg(s), timeout=1)
        return not r.degraded

    await until(recovered, "non-degraded decisions")

    async def serving() -> bool:
        return await health_status(channel) == int(health_pb2.HealthCheckResponse.SERVING)

    await until(serving, "SERVING")
    degraded = server.metrics.degraded_decisions.labels("fail_open")._value.get()
    assert degraded >= 4


async def test_fail_closed_denies_with_backend_unavailable(
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    server = await server_factory(redis_url=own_redis.url, failure_mode="fail_closed", redis=FAST)
    stub = pb_grpc.SendGateStub(channel_to(server))
    own_redis.kill()
    resp = await stub.CanSend(msg(acct("s")), timeout=1)
    assert (resp.decision, resp.reason, resp.degraded) == (pb.DENY, pb.BACKEND_UNAVAILABLE, True)
    batch = await stub.CanSendBatch(
        pb.CanSendBatchRequest(requests=[msg(acct("s")), msg(acct("s"))]), timeout=1
    )
    assert [r.reason for r in batch.responses] == [pb.BACKEND_UNAVAILABLE] * 2


async def test_paused_redis_is_decided_within_the_callers_deadline(
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    # Redis may take 5 s by configuration; the caller's 300 ms deadline wins.
    slow = dict(FAST, timeout_ms=5000)
    server = await server_factory(redis_url=own_redis.url, failure_mode="fail_open", redis=slow)
    stub = pb_grpc.SendGateStub(channel_to(server))
    s = acct("s")
    await stub.CanSend(msg(s), timeout=2)
    own_redis.signal(signal.SIGSTOP)
    try:
        resp = await stub.CanSend(msg(s), timeout=0.3)
        assert resp.degraded  # answered by the policy, not DEADLINE_EXCEEDED
    finally:
        own_redis.signal(signal.SIGCONT)

    async def recovered() -> bool:
        return not (await stub.CanSend(msg(s), timeout=1)).degraded

    await until(recovered, "recovery after SIGCONT")


async def test_start_refuses_a_redis_that_evicts(server_factory: ServerFactory) -> None:
    proc = RedisProcess(port=free_port(), extra_args=("--maxmemory-policy", "allkeys-lru"))
    proc.start()
    try:
        with pytest.raises(StartupError, match="maxmemory-policy"):
            await server_factory(redis_url=proc.url)
        server = await server_factory(redis_url=proc.url, allow_evicting_redis=True)
        assert server.grpc_port > 0
    finally:
        proc.close()


async def test_redis_down_at_start_serves_degraded_until_it_answers(
    server_factory: ServerFactory, channel_to: Callable[..., grpc.aio.Channel]
) -> None:
    port = free_port()
    server = await server_factory(
        redis_url=f"redis://127.0.0.1:{port}/0",
        failure_mode="fail_open",
        redis=dict(FAST, startup_wait_ms=0),
    )
    ch = channel_to(server)
    stub = pb_grpc.SendGateStub(ch)
    s = acct("s")
    assert await health_status(ch) == health_pb2.HealthCheckResponse.NOT_SERVING
    first = await stub.CanSend(msg(s), timeout=2)
    assert (first.decision, first.degraded) == (pb.ALLOW, True)
    proc = RedisProcess(port=port)
    proc.start()
    try:

        async def serving() -> bool:
            return bool(await health_status(ch) == health_pb2.HealthCheckResponse.SERVING)

        await until(serving, "SERVING once Redis answers")
        after = await stub.CanSend(msg(s), timeout=2)
        assert (after.degraded, after.counted, after.usage.used) == (False, True, 1)
    finally:
        proc.close()


async def test_redis_down_at_start_can_refuse_to_start(server_factory: ServerFactory) -> None:
    with pytest.raises(StartupError, match="unreachable at start-up"):
        await server_factory(
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            redis=dict(FAST, startup_wait_ms=0, start_degraded=False),
        )


async def test_evicting_redis_found_after_a_degraded_start_stops_the_server(
    server_factory: ServerFactory,
) -> None:
    port = free_port()
    server = await server_factory(
        redis_url=f"redis://127.0.0.1:{port}/0", redis=dict(FAST, startup_wait_ms=0)
    )
    proc = RedisProcess(port=port, extra_args=("--maxmemory-policy", "allkeys-lru"))
    proc.start()
    try:
        await asyncio.wait_for(server.failed.wait(), timeout=10)
        assert server.fatal_error is not None
        assert "maxmemory-policy" in str(server.fatal_error)
    finally:
        proc.close()


async def test_a_redis_that_refuses_stops_start_up_at_once(server_factory: ServerFactory) -> None:
    proc = RedisProcess(port=free_port())
    proc.start()
    try:
        # A user that may connect but run nothing else: Redis answers, and says no.
        admin = redis_sync.Redis.from_url(proc.url)
        admin.acl_setuser("limited", enabled=True, passwords=["+pw"], categories=["+@connection"])
        admin.close()
        url = f"redis://limited:pw@127.0.0.1:{proc.port}/0"
        with pytest.raises(StartupError, match="refused to prepare"):
            await server_factory(redis_url=url, redis=dict(FAST, startup_wait_ms=5000))
    finally:
        proc.close()


async def test_nothing_is_counted_before_redis_is_prepared(own_redis: RedisProcess) -> None:
    store = RedisStore.from_url(own_redis.url)
    try:
        await store.ping(1.0)  # reachability is checked before preparing
        with pytest.raises(BackendError) as info:
            await store.note_inbound("a", "b", T0, 1.0)
        assert info.value.kind == "unprepared"
        await store.prepare(allow_evicting=False)
        assert await store.note_inbound("a", "b", T0, 1.0) == 0
    finally:
        await store.close()


@pytest.mark.cluster
@pytest.mark.parametrize("role", ["primary", "replica"])
async def test_start_checks_every_cluster_node_for_eviction(
    role: str, server_factory: ServerFactory, redis_cluster: RedisCluster
) -> None:
    # Each node, not the one a plain INFO would pick; a replica becomes a primary on
    # failover, so its policy matters too.
    primary = redis_cluster.primary_for("any-key")
    replica = redis_cluster.replica_of(primary)
    node = redis_sync.Redis.from_url((primary if role == "primary" else replica).url)
    node.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(StartupError, match="maxmemory-policy"):
            await server_factory(redis_url=redis_cluster.url)
    finally:
        node.config_set("maxmemory-policy", "noeviction")
        node.close()


@pytest.mark.cluster
async def test_batch_with_library_missing_on_one_node_runs_each_message_once(
    server_factory: ServerFactory,
    redis_cluster: RedisCluster,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    server = await server_factory(redis_url=redis_cluster.url, bulk={"enabled": False})
    stub = pb_grpc.SendGateStub(channel_to(server))
    senders = [acct("s") for _ in range(30)]  # spread over every primary
    one = redis_cluster.primary_for(account_key(senders[0]))
    client = redis_sync.Redis.from_url(one.url)
    client.function_flush()  # only there: the other nodes' calls succeed the first time
    client.close()
    reqs = [
        pb.CanSendRequest(sender=s, recipient=acct("r"), message_id="m", at_unix_ms=T0)
        for s in senders
    ]
    resp = await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs), timeout=5)
    got = [(r.decision, r.counted, r.duplicate, r.degraded, r.usage.used) for r in resp.responses]
    assert got == [(pb.ALLOW, True, False, False, 1)] * len(senders)


@pytest.mark.parametrize(
    "where", ["standalone", pytest.param("cluster", marks=pytest.mark.cluster)]
)
async def test_function_flush_is_recovered(
    where: str,
    server_factory: ServerFactory,
    channel_to: Callable[..., grpc.aio.Channel],
    request: pytest.FixtureRequest,
) -> None:
    if where == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        url, nodes = cluster.url, cluster.nodes
    else:
        own: RedisProcess = request.getfixturevalue("own_redis")
        url, nodes = own.url, [own]
    server = await server_factory(redis_url=url)  # the default, roomy budget: a reload fits
    stub = pb_grpc.SendGateStub(channel_to(server))
    s = acct("s")
    assert (await stub.CanSend(msg(s), timeout=2)).usage.used == 1
    for node in nodes:  # every primary (replicas follow), so both calls miss the library
        client = redis_sync.Redis.from_url(node.url)
        if client.info("replication")["role"] == "master":
            client.function_flush()
        client.close()
    # Function not found → one reload → rerun, counted once.
    after = await stub.CanSend(msg(s), timeout=2)
    assert (after.degraded, after.usage.used) == (False, 2)
    batch = await stub.CanSendBatch(pb.CanSendBatchRequest(requests=[msg(s), msg(s)]), timeout=2)
    assert [r.usage.used for r in batch.responses] == [3, 4]
    assert server.store is not None
    lib = server.store.library.name
    for node in nodes:  # reloaded on every primary (a cluster: redis-py sends it to each)
        client = redis_sync.Redis.from_url(node.url)
        try:
            if client.info("replication")["role"] == "master":
                listing = client.function_list(library=lib)  # [[b"library_name", name, …]]
                assert [entry[1] for entry in listing] == [lib.encode()], node
        finally:
            client.close()


async def test_out_of_memory_follows_the_failure_policy(
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    server = await server_factory(redis_url=own_redis.url, failure_mode="fail_closed", redis=FAST)
    stub = pb_grpc.SendGateStub(channel_to(server))
    s = acct("s")
    assert not (await stub.CanSend(msg(s), timeout=2)).degraded
    client = redis_sync.Redis.from_url(own_redis.url)
    try:
        client.config_set("maxmemory", 1)  # noeviction: every write is refused with OOM
        resp = await stub.CanSend(msg(s), timeout=2)
        assert (resp.decision, resp.reason, resp.degraded) == (
            pb.DENY,
            pb.BACKEND_UNAVAILABLE,
            True,
        )
        assert server.metrics.redis_errors.labels("oom")._value.get() >= 1
    finally:
        client.config_set("maxmemory", 0)
        client.close()

    async def recovered() -> bool:
        return not (await stub.CanSend(msg(s), timeout=1)).degraded

    await until(recovered, "recovery after OOM")
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s), timeout=2)
    assert usage.usage.used == 2  # the refused write was not counted


async def test_lost_replies_never_double_count(
    server_factory: ServerFactory,
    own_redis: RedisProcess,
    channel_to: Callable[..., grpc.aio.Channel],
) -> None:
    """Jepsen-style: through a proxy that drops 30 % of replies, every message is retried
    with its message_id until a definite answer; Redis then holds each exactly once."""
    assert own_redis.port is not None
    proxy = FaultProxy(own_redis.port, drop=0.0, seed=7)
    await proxy.start()
    try:
        server = await server_factory(
            redis_url=proxy.url,
            limits={"personal_monthly": 10_000},
            bulk={"enabled": False},
            redis={"timeout_ms": 500, "breaker_failures": 1000},
        )
        stub = pb_grpc.SendGateStub(channel_to(server))
        proxy.drop = 0.3  # after start-up: from now on replies get lost
        s = acct("s")
        acknowledged, unknown, duplicates = 0, 0, 0
        first_try_unknown: list[str] = []
        for i in range(60):
            req = pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=f"j{i}")
            resp = await stub.CanSend(req, timeout=2)
            if resp.degraded:
                unknown += 1
                first_try_unknown.append(req.message_id)
            else:
                acknowledged += 1
        # Bounds before retries: every acknowledged count is there, unknowns may or may not be.
        client = redis_sync.Redis.from_url(own_redis.url)

        def used() -> int:
            total = 0
            for key in client.scan_iter(match=account_base(s) + "q:*"):
                total += int(client.hget(key, "u") or 0)
            return total

        assert acknowledged <= used() <= acknowledged + unknown
        assert proxy.dropped > 0 and unknown > 0
        # Retry the unknown ones with the same message_id until definite (bounded).
        for mid in first_try_unknown:
            for _ in range(30):
                resp = await stub.CanSend(
                    pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=mid), timeout=2
                )
                if not resp.degraded:
                    duplicates += resp.duplicate
                    break
            else:
                raise AssertionError(f"{mid} never got a definite answer")
        assert used() == 60  # each message counted exactly once
        assert duplicates > 0  # some lost replies had run: the retry was a replay
        client.close()
    finally:
        await proxy.close()
