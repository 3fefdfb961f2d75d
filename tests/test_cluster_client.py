"""The cluster client closes every connection it opened, whatever redis-py dropped."""

from __future__ import annotations

import asyncio
import gc

import pytest

from sendgate.store.cluster_client import TrackedRedisCluster
from sendgate.store.redis_store import make_client
from tests.cluster import RedisCluster


@pytest.mark.cluster
async def test_every_connection_is_closed_after_refreshes_and_cancellations(
    redis_cluster: RedisCluster,
) -> None:
    client = make_client(redis_cluster.url, 1.0, 8)
    assert isinstance(client, TrackedRedisCluster)
    # The store learns the topology before any traffic (prepare); so does this test.
    await client.initialize()
    keys = [f"cluster-client-{i}" for i in range(60)]

    limit = asyncio.Semaphore(8)  # redis-py's node pools refuse more than 8 at once

    async def incr(key: str) -> None:
        async with limit:
            await client.incr(key)

    await asyncio.gather(*(incr(k) for k in keys))
    # Topology refreshes mark connections for reconnect and replace node objects.
    for _ in range(3):
        await client.nodes_manager.initialize()
        await asyncio.gather(*(incr(k) for k in keys))
    # Calls cancelled mid-flight (the sidecar's budget does this under load).
    for _ in range(20):
        try:
            async with asyncio.timeout(0):
                await incr(keys[0])
        except TimeoutError:
            pass
    assert client.open_connections > 0
    await client.aclose()
    assert client.open_connections == 0
    gc.collect()  # a connection left open would warn here, and warnings are errors
