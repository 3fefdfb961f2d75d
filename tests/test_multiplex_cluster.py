"""The multiplexed connection on the real Redis Cluster of tests/cluster.py: routing by
hash tag to every primary, groups split per node, ASK and MOVED during a real slot
migration (CLUSTER SETSLOT), MOVED after a manual failover, a lost node connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from sendgate.embedded_redis import RedisProcess
from sendgate.store.mux import MuxCluster, OutcomeUnknown, ReplyError, open_mux, slot_of
from tests.cluster import RedisCluster, ask

pytestmark = pytest.mark.cluster


@pytest_asyncio.fixture
async def mux(redis_cluster: RedisCluster) -> AsyncIterator[MuxCluster]:
    client = open_mux(redis_cluster.url)
    assert isinstance(client, MuxCluster)
    await client.refresh()
    yield client
    await client.close()


async def until(check: Callable[[], bool], what: str, tries: int = 200) -> None:
    """Wait for a change already under way (bounded: tries x 25 ms)."""
    for _ in range(tries):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def port_of(address: str | None) -> int:
    assert address is not None
    return int(address.rpartition(":")[2])


def node_id(node: RedisProcess) -> str:
    return ask(node.port, "cluster", "myid", check=True).strip()


def other_primary(mux: MuxCluster, cluster: RedisCluster, not_this: RedisProcess) -> RedisProcess:
    ports = {port_of(a) for a in mux.primaries}
    return next(n for n in cluster.nodes if n.port in ports and n is not not_this)


def finish_move(cluster: RedisCluster, slot: int, owner: RedisProcess) -> None:
    """Give `slot` to `owner` everywhere: the importing side first (it bumps its epoch)."""
    for node in sorted(cluster.nodes, key=lambda n: n is not owner):
        ask(node.port, "cluster", "setslot", str(slot), "node", node_id(owner))


async def test_routes_by_hash_tag_to_every_primary(
    mux: MuxCluster, redis_cluster: RedisCluster
) -> None:
    assert len(mux.primaries) == 3
    keys = [f"{{mux-route-{i}}}:k" for i in range(30)]
    assert len({mux.address_for(k) for k in keys}) == 3, "the tags spread over every primary"
    assert await asyncio.gather(*(mux.call("SET", k, k, key=k) for k in keys)) == [b"OK"] * 30
    for key in keys[:3]:  # the node redis-cli names holds the key we wrote
        owner = redis_cluster.primary_for(key)
        assert port_of(mux.address_for(key)) == owner.port
        assert ask(owner.port, "get", key).strip() == key
    # One tag, two keys: the same slot whatever follows the tag.
    assert slot_of("{mux-route-1}:a") == slot_of("{mux-route-1}:b")
    # A group across nodes comes back in request order, errors per command.
    commands = [("APPEND", k, "+") for k in keys] + [("INCR", keys[0])]
    got = await mux.call_many(commands, [*keys, keys[0]])
    assert got[:30] == [len(k) + 1 for k in keys]
    assert got[30].prefix == "ERR"
    assert mux.moved == mux.asked == 0


async def test_ask_then_moved_during_a_slot_migration(
    mux: MuxCluster, redis_cluster: RedisCluster
) -> None:
    # A slot no earlier test wrote to (their random account ids land anywhere): with
    # no key of its own on src, a new key of the migrating slot is answered ASK.
    for i in range(100):
        key = f"{{mux-migrate-{i}}}:k"
        slot = slot_of(key)
        src = redis_cluster.primary_for(key)
        if ask(src.port, "cluster", "countkeysinslot", str(slot)).strip() == "0":
            break
    else:
        raise AssertionError("no empty slot among 100 tags")
    dst = other_primary(mux, redis_cluster, src)
    try:
        # src → dst: dst imports from src, src migrates to dst.
        ask(dst.port, "cluster", "setslot", str(slot), "importing", node_id(src), check=True)
        ask(src.port, "cluster", "setslot", str(slot), "migrating", node_id(dst), check=True)
        # A new key of a migrating slot lives on the target: src answers ASK, once.
        assert await mux.call("SET", key, "v", key=key) == b"OK"
        assert mux.asked == 1 and port_of(mux.address_for(key)) == src.port
        assert ask(dst.port, "cluster", "countkeysinslot", str(slot)).strip() == "1"

        finish_move(redis_cluster, slot, dst)
        # The map still says src: src answers MOVED, the call follows it, the map learns.
        assert await mux.call("GET", key, key=key) == b"v"
        assert mux.moved == 1
        await mux.refresh()
        assert port_of(mux.address_for(key)) == dst.port
        assert await mux.call("GET", key, key=key) == b"v"
        assert mux.moved == 1
    finally:
        # Leave the cluster as we found it: the key gone, the slot back on src.
        ask(dst.port, "del", key)
        ask(src.port, "cluster", "setslot", str(slot), "importing", node_id(dst))
        ask(dst.port, "cluster", "setslot", str(slot), "migrating", node_id(src))
        finish_move(redis_cluster, slot, src)
    await until(
        lambda: redis_cluster.primary_for(key).port == src.port, "the slot to be back on src"
    )


def all_see_primary(cluster: RedisCluster, node: RedisProcess) -> bool:
    """Every node's `CLUSTER NODES` lists `node` as a primary (gossip has converged)."""
    for peer in cluster.nodes:
        lines = ask(peer.port, "cluster", "nodes").splitlines()
        flags = [ln.split()[2] for ln in lines if f":{node.port}@" in ln]
        if not flags or "master" not in flags[0]:
            return False
    return True


async def test_moved_after_a_manual_failover(mux: MuxCluster, redis_cluster: RedisCluster) -> None:
    key = "{mux-failover}:k"
    primary = redis_cluster.primary_for(key)
    replica = redis_cluster.replica_of(primary)
    assert await mux.call("SET", key, "before", key=key) == b"OK"

    def promote(node: RedisProcess, *how: str) -> None:
        ask(node.port, "cluster", "failover", *how, check=True)

    def is_primary(node: RedisProcess) -> bool:
        return "role:master" in ask(node.port, "info", "replication")

    promote(replica)
    try:
        await until(lambda: is_primary(replica), "the replica to take over")
        await until(lambda: not is_primary(primary), "the old primary to step down")
        await until(lambda: all_see_primary(redis_cluster, replica), "every node to agree")
        # The stale map sends the call to the old primary, now a replica: MOVED.
        assert await mux.call("GET", key, key=key) == b"before"
        assert mux.moved == 1
        await mux.refresh()
        assert port_of(mux.address_for(key)) == replica.port
    finally:
        await until(lambda: "master_link_status:up" in ask(primary.port, "info", "replication"),
                    "the old primary to sync as a replica")  # fmt: skip
        # Primaries vote for one replica of a shard once per twice the node timeout, so the way
        # back takes over without an election (no traffic: nothing to lose).
        promote(primary, "takeover")
        await until(lambda: all_see_primary(redis_cluster, primary), "the way back")


async def test_lost_node_connection_is_unknown_then_reconnects(mux: MuxCluster) -> None:
    key = "{mux-lost}:k"
    node = mux.node(mux.address_for(key) or "")
    my_id = await mux.call("CLIENT", "ID", key=key)
    blocked = asyncio.ensure_future(mux.call("BLPOP", key, 0, key=key))
    await until(lambda: node.in_flight == 1, "the BLPOP written")
    ask(port_of(mux.address_for(key)), "client", "kill", "id", str(my_id), check=True)
    with pytest.raises(OutcomeUnknown):
        await blocked
    assert await mux.call("CLIENT", "ID", key=key) != my_id


async def test_tryagain_is_retried_within_bounds(
    mux: MuxCluster, redis_cluster: RedisCluster
) -> None:
    here, missing = "{mux-tryagain}:here", "{mux-tryagain}:missing"
    slot = slot_of(here)
    src = redis_cluster.primary_for(here)
    dst = other_primary(mux, redis_cluster, src)
    assert await mux.call("SET", here, "1", key=here) == b"OK"
    ask(dst.port, "cluster", "setslot", str(slot), "importing", node_id(src), check=True)
    ask(src.port, "cluster", "setslot", str(slot), "migrating", node_id(dst), check=True)
    try:
        # Half the keys of a migrating slot are here: the command did not run, TRYAGAIN,
        # retried with backoff until the attempts run out (the migration never ends here).
        with pytest.raises(ReplyError) as err:
            await mux.call("MGET", here, missing, key=here)
        assert err.value.prefix == "TRYAGAIN"
        assert mux.busy_retries == 4
    finally:
        for node in (src, dst):  # abandon the migration: the slot stays on src
            ask(node.port, "cluster", "setslot", str(slot), "stable")
        ask(src.port, "del", here)
