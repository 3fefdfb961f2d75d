"""Fixtures: a real redis-server per session (never port 6379) and real gRPC servers on port 0."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis

from sendgate.config import load_settings
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.cluster import RedisCluster

# Tests move time with at_unix_ms: a fixed March (31 days), far from a month edge.
T0 = int(datetime(2026, 3, 10, 12, 0, tzinfo=UTC).timestamp() * 1000)
APRIL = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000
_ids = itertools.count()


def acct(prefix: str = "a") -> str:
    """A fresh account id, so tests sharing a Redis never see each other's state."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}-{next(_ids)}"


@pytest.fixture(scope="session")
def redis_proc() -> Iterator[RedisProcess]:
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc
    proc.close()


@pytest.fixture(scope="session")
def redis_sync(redis_proc: RedisProcess) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_proc.url)
    yield client
    client.close()


ServerFactory = Callable[..., Awaitable[SendGateServer]]


@pytest_asyncio.fixture(scope="session")
async def server_factory(redis_proc: RedisProcess) -> AsyncIterator[ServerFactory]:
    """Start servers with settings overrides; all are stopped at the end of the session."""
    started: list[SendGateServer] = []

    async def start(**overrides: Any) -> SendGateServer:
        settings = {
            "redis_url": redis_proc.url,
            "grpc_address": "127.0.0.1:0",
            "metrics_address": "127.0.0.1:0",
            "allow_client_time": True,
            "shutdown_grace_seconds": 0.5,
        }
        # A loaded CI machine must not turn into degraded answers: tests that want a
        # tight Redis budget (fault tests) set their own.
        overrides["redis"] = {"timeout_ms": 2000, **overrides.get("redis", {})}
        settings.update(overrides)
        server = SendGateServer(load_settings(None, **settings))
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop(0)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A real Redis Cluster on loopback: 3 primaries, 3 replicas."""
    cluster = RedisCluster()
    cluster.start()
    yield cluster
    cluster.close()


@dataclass(frozen=True)
class Backend:
    """Where a server keeps its state, and a plain client to inspect it."""

    url: str
    inspect: redis.Redis | redis.RedisCluster


@pytest.fixture(
    scope="session", params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)]
)
def backend(request: pytest.FixtureRequest, redis_sync: redis.Redis) -> Iterator[Backend]:
    """The session's standalone Redis, then the Redis Cluster: suites using it run on both."""
    if request.param == "standalone":
        yield Backend(request.getfixturevalue("redis_proc").url, redis_sync)
        return
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    client = redis.RedisCluster.from_url(cluster.url.replace("+cluster", "", 1))
    yield Backend(cluster.url, client)
    client.close()


@pytest_asyncio.fixture(
    scope="session",
    params=["one_call", "two_calls", pytest.param("cluster", marks=pytest.mark.cluster)],
)
async def limit5(server_factory: ServerFactory, request: pytest.FixtureRequest) -> SendGateServer:
    """The SPEC's worked example: limit 5, warn_ratio 0.8, username limit 2.

    Every test using it runs twice: one script call per message (standalone Redis) and
    sender-then-recipient calls; with `-m cluster`, also against a real Redis Cluster. Bulk
    detection is off here: these tests send bursts to strangers on purpose.
    """
    extra: dict[str, Any] = {}
    if request.param == "cluster":
        extra["redis_url"] = request.getfixturevalue("redis_cluster").url
    return await server_factory(
        limits={"personal_monthly": 5, "warn_ratio": 0.8, "username_monthly": 2},
        bulk={"enabled": False},
        redis={"one_call_per_message": request.param == "one_call"},
        **extra,
    )


@pytest_asyncio.fixture(scope="session")
async def stub(limit5: SendGateServer) -> AsyncIterator[pb_grpc.SendGateStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as channel:
        yield pb_grpc.SendGateStub(channel)


@pytest_asyncio.fixture(scope="session")
async def stub_factory() -> AsyncIterator[Callable[[SendGateServer], pb_grpc.SendGateStub]]:
    channels: list[grpc.aio.Channel] = []

    def make(server: SendGateServer) -> pb_grpc.SendGateStub:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        channels.append(channel)
        return pb_grpc.SendGateStub(channel)

    yield make
    for channel in channels:
        await channel.close()


async def approve_exception(
    sg: pb_grpc.SendGateStub,
    admin: pb_grpc.SendGateAdminStub,
    account: str,
    reason: pb.ExceptionReason.ValueType,
    extra: int,
    expires: int,
    at: int = T0,
) -> None:
    """An exception requested and approved at `at`: `extra` more messages until `expires`."""
    req = await sg.RequestException(
        pb.RequestExceptionRequest(account=account, reason=reason, note="event", at_unix_ms=at)
    )
    await admin.ReviewException(
        pb.ReviewExceptionRequest(
            request_id=req.request_id,
            approve=True,
            extra_allowance=extra,
            expires_at=expires,
            at_unix_ms=at,
        )
    )
