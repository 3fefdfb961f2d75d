"""Write coalescing on the multiplexed connection, against a real redis-server: while
replies are outstanding new commands are held and go out in one write when the next
reply arrives (or at the fallback); replies stay matched in order; a held call that
gives up is never sent; the backlog is written at once past its caps; a connection
lost with a backlog fails the written calls as OutcomeUnknown and sends the held ones
on a new connection, or fails them as NotSent when none can be opened. Counts exact.

A BLPOP on a list nobody pushes to is the outstanding reply: it arrives when the test
pushes, so nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import redis

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.store.mux import MuxConnection, NotSent, OutcomeUnknown
from sendgate.store.mux import connection as mux_connection
from tests.faultproxy import FaultProxy

# Counts a message once per id: the idempotency record and the counter in one script.
ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', 3600) then
  return redis.call('INCR', KEYS[2])
end
return -1
"""


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisProcess]:
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc
    proc.close()


@pytest.fixture(scope="module")
def admin(own_redis: RedisProcess) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_redis.url)
    yield client
    client.close()


@pytest.fixture
def long_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """No fallback flush within a test: only a reply (or a cap) writes the backlog."""
    monkeypatch.setattr(mux_connection, "HOLD_MAX_S", 600.0)


@pytest_asyncio.fixture
async def conn(own_redis: RedisProcess) -> AsyncIterator[MuxConnection]:
    c = MuxConnection.from_url(own_redis.url)
    assert await c.call("PING") == b"PONG"
    yield c
    await c.close()


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for an event that is already on its way (bounded: 2 s)."""
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


async def turns(n: int = 5) -> None:
    """Let the loop run a few turns (writes, replies) without waiting for anything."""
    for _ in range(n):
        await asyncio.sleep(0)


def count_writes(conn: MuxConnection) -> list[int]:
    proto = conn._proto
    assert proto is not None and proto.transport is not None
    writes: list[int] = []
    write = proto.transport.write

    def counting(data: Any) -> None:
        writes.append(len(data))
        write(data)

    proto.transport.write = counting  # type: ignore[method-assign]
    return writes


async def test_held_while_a_reply_is_outstanding_then_one_write(
    conn: MuxConnection, admin: redis.Redis, long_hold: None
) -> None:
    admin.delete("co:list", "co:n")
    writes = count_writes(conn)
    blocked = conn.send("BLPOP", "co:list", 0)
    await until(lambda: conn.in_flight == 1, "the BLPOP written")
    # Issued while its reply is outstanding: held, in one backlog, for as long as it lasts.
    held = [conn.send("INCR", "co:n") for _ in range(50)]
    await turns()
    assert conn.in_flight == 1 and len(writes) == 1
    assert admin.get("co:n") is None, "held commands have not run"
    admin.rpush("co:list", "x")  # the reply arrives; the backlog goes out with it
    assert await blocked == [b"co:list", b"x"]
    assert await asyncio.gather(*held) == list(range(1, 51)), "replies matched in order"
    assert len(writes) == 2
    assert conn.writes == 2 + 1  # the PING of the fixture, the BLPOP, the backlog


async def test_nothing_outstanding_means_no_hold(conn: MuxConnection) -> None:
    # A lone call waits for no reply: it goes out at the end of its turn.
    writes = count_writes(conn)
    for _ in range(3):
        assert await conn.call("PING") == b"PONG"
    assert len(writes) == 3


async def test_fallback_flush_when_no_reply_comes(conn: MuxConnection, admin: redis.Redis) -> None:
    admin.delete("co:never", "co:fb")
    blocked = conn.send("BLPOP", "co:never", 0)
    await until(lambda: conn.in_flight == 1, "the BLPOP written")
    # The BLPOP's reply never comes: the fallback (HOLD_MAX_S) writes the backlog. On
    # the same connection Redis runs it only after the BLPOP: unblock it to see them.
    held = [conn.send("INCR", "co:fb") for _ in range(5)]
    await until(lambda: conn.in_flight == 6, "the fallback flush")
    admin.rpush("co:never", "x")
    assert await blocked == [b"co:never", b"x"]
    assert await asyncio.gather(*held) == [1, 2, 3, 4, 5]


async def test_a_held_call_that_gives_up_is_never_sent(
    conn: MuxConnection, admin: redis.Redis, long_hold: None
) -> None:
    admin.delete("co:l2", "co:gaveup")
    blocked = conn.send("BLPOP", "co:l2", 0)
    await until(lambda: conn.in_flight == 1, "the BLPOP written")
    gave_up = conn.send("INCR", "co:gaveup")
    after = conn.send("GET", "co:gaveup")
    gave_up.cancel()  # what asyncio.timeout does to a call still held
    admin.rpush("co:l2", "x")
    await blocked
    assert await after is None, "the cancelled INCR never ran"
    assert conn.in_flight == 0


async def test_backlog_caps_write_at_once(
    conn: MuxConnection, admin: redis.Redis, long_hold: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.delete("co:l3", "co:cap", "co:big")
    monkeypatch.setattr(mux_connection, "MAX_BACKLOG", 10)
    blocked = conn.send("BLPOP", "co:l3", 0)
    await until(lambda: conn.in_flight == 1, "the BLPOP written")
    held = [conn.send("INCR", "co:cap") for _ in range(9)]
    assert conn.in_flight == 1
    held.append(conn.send("INCR", "co:cap"))  # the tenth: written now, in this turn
    assert conn.in_flight == 11
    # Bytes: one large command alone passes MAX_BACKLOG_BYTES.
    big = conn.send("SET", "co:big", b"v" * mux_connection.MAX_BACKLOG_BYTES)
    assert conn.in_flight == 12
    admin.rpush("co:l3", "x")
    await blocked
    assert await asyncio.gather(*held) == list(range(1, 11))
    assert await big == b"OK"


async def _lose_with_backlog(
    conn: MuxConnection, sha: str, ids: list[str], counter: str
) -> tuple[list[asyncio.Future[Any]], list[asyncio.Future[Any]]]:
    """BLPOP and 10 scripts written (the BLPOP blocks the connection in Redis, so the 10
    wait in its input), 10 more held; then the socket is cut."""
    blocked = conn.send("BLPOP", "co:drop-never", 0)
    written = [conn.send("EVALSHA", sha, 2, ids[i], counter) for i in range(10)]
    await until(lambda: conn.in_flight == 11, "the first 11 written")
    held = [conn.send("EVALSHA", sha, 2, ids[i], counter) for i in range(10, 20)]
    assert conn.in_flight == 11
    proto = conn._proto
    assert proto is not None and proto.transport is not None
    proto.transport.abort()  # a connection reset with a backlog held
    return [blocked, *written], held


async def test_lost_with_a_backlog_held_ones_go_out_on_a_new_connection(
    own_redis: RedisProcess, admin: redis.Redis, long_hold: None
) -> None:
    sha = admin.script_load(ONCE)
    counter = "co:count:{a}"
    ids = [f"co:id:{{a}}:{i}" for i in range(20)]
    admin.delete(counter, *ids)
    conn = MuxConnection.from_url(own_redis.url)
    try:
        assert await conn.call("PING") == b"PONG"
        sent, held = await _lose_with_backlog(conn, sha, ids, counter)
        sent_results = await asyncio.gather(*sent, return_exceptions=True)
        assert all(isinstance(r, OutcomeUnknown) for r in sent_results), sent_results
        # Never written, so sending them on the new connection is not a resend.
        assert sorted(await asyncio.gather(*held)) == list(range(1, 11))
        assert conn.connects == 2
        # The unknown ones are retried with their ids; none had run (the BLPOP held them).
        retried = await asyncio.gather(
            *(conn.call("EVALSHA", sha, 2, ids[i], counter) for i in range(10))
        )
        assert -1 not in retried
        assert int(admin.get(counter) or 0) == 20
    finally:
        await conn.close()


async def test_lost_with_a_backlog_and_no_reconnect_held_ones_are_not_sent(
    own_redis: RedisProcess, admin: redis.Redis, long_hold: None
) -> None:
    sha = admin.script_load(ONCE)
    counter = "co:count:{b}"
    ids = [f"co:id:{{b}}:{i}" for i in range(20)]
    admin.delete(counter, *ids)
    proxy = FaultProxy(own_redis.port or 0, drop=0.0)
    await proxy.start()
    conn = MuxConnection.from_url(proxy.url, backoff_base_s=60.0)
    try:
        assert await conn.call("PING") == b"PONG"
        await proxy.close()  # no new connection can be opened from now on
        sent, held = await _lose_with_backlog(conn, sha, ids, counter)
        sent_results = await asyncio.gather(*sent, return_exceptions=True)
        held_results = await asyncio.gather(*held, return_exceptions=True)
        assert all(isinstance(r, OutcomeUnknown) for r in sent_results), sent_results
        assert all(isinstance(r, NotSent) for r in held_results), held_results
        # The written ten waited behind the BLPOP in Redis's input, the held ten never
        # left: nothing ran, though the client cannot know it for the written ones.
        assert int(admin.get(counter) or 0) == 0
    finally:
        await conn.close()
    # A caller retries: the not-sent ones freely, the unknown ones with the same ids.
    fresh = MuxConnection.from_url(own_redis.url)
    try:
        again = await asyncio.gather(
            *(fresh.call("EVALSHA", sha, 2, ids[i], counter) for i in range(20))
        )
        assert sorted(again) == list(range(1, 21))
        assert int(admin.get(counter) or 0) == 20
    finally:
        await fresh.close()


def test_c_encoder_writes_what_the_python_one_writes() -> None:
    samples: list[tuple[Any, ...]] = [
        ("FCALL", "send_local", 2, "sg:{a}", "sg:{b}", 0, "r", b"\x00\xff\r\n", 1, 0, "s"),
        ("ZADD", "z", 1.5, "é", -0.0, 1e20, 1 / 3, 2**70, -3),
        ("SET", b"k", 12, True),  # a bool: not the C encoder's, same bytes anyway
        (),
    ]
    for args in samples:
        assert mux_connection.encode(args) == mux_connection.encode_py(args), args
    assert mux_connection.encode(["GET", "k"]) == mux_connection.encode_py(("GET", "k"))
