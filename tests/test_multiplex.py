"""The multiplexed connection against real redis-server processes started here: one
write per loop turn, typed reply errors, timeouts that leave the stream in step, a
connection lost with 100 calls in flight (unknowns retried with their ids: counts
exact), reconnect and backoff, unix sockets, AUTH with an ACL user, SELECT, TLS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.store.mux import (
    MuxConnection,
    NotSent,
    OutcomeUnknown,
    ReplyError,
    open_mux,
)
from sendgate.store.mux.connection import backoff_delay, encode
from tests.faultproxy import FaultProxy
from tests.test_tls import make_pki

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


@pytest_asyncio.fixture
async def conn(own_redis: RedisProcess) -> AsyncIterator[MuxConnection]:
    c = MuxConnection.from_url(own_redis.url)
    yield c
    await c.close()


async def until(check: Callable[[], bool], what: str) -> None:
    """Wait for an event that is already on its way (bounded: 2 s)."""
    for _ in range(2000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"timed out waiting for {what}")


def test_encode_and_backoff() -> None:
    assert (
        encode(("SET", b"k", 12, True)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n$1\r\n1\r\n"
    )
    assert (
        encode(("ZADD", "z", 1.5, "é"))
        == b"*4\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n1.5\r\n$2\r\n\xc3\xa9\r\n"
    )
    assert [backoff_delay(n, 0.05, 0.3) for n in (1, 2, 3, 4, 9)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert ReplyError("MOVED 12 127.0.0.1:7000").prefix == "MOVED"
    assert ReplyError("ERR Error running script: OOM command not allowed").kind == "oom"


async def test_replies_and_typed_errors(conn: MuxConnection, admin: redis.Redis) -> None:
    assert await conn.call("PING") == b"PONG"
    assert await conn.call("SET", "mux:a", "1") == b"OK"
    assert await conn.call("GET", "mux:missing") is None
    assert await conn.call("RPUSH", "mux:l", "x", "y") == 2
    assert await conn.call("LRANGE", "mux:l", 0, -1) == [b"x", b"y"]
    with pytest.raises(ReplyError) as noscript:
        await conn.call("EVALSHA", "0" * 40, 0)
    assert noscript.value.prefix == "NOSCRIPT"
    with pytest.raises(ReplyError) as wrongtype:
        await conn.call("INCR", "mux:l")
    assert wrongtype.value.prefix == "WRONGTYPE"
    # An error reply is an answer: the same socket goes on serving.
    assert await conn.call("GET", "mux:a") == b"1"
    assert conn.connects == 1


async def test_one_write_per_loop_turn(conn: MuxConnection) -> None:
    await conn.call("DEL", "mux:turn")
    proto = conn._proto
    assert proto is not None and proto.transport is not None
    writes: list[int] = []
    write = proto.transport.write

    def counting(data: Any) -> None:
        writes.append(len(data))
        write(data)

    proto.transport.write = counting  # type: ignore[method-assign]
    replies = await asyncio.gather(*(conn.call("INCR", "mux:turn") for _ in range(200)))
    assert sorted(replies) == list(range(1, 201))
    assert replies == list(range(1, 201)), "replies are matched in order"
    assert len(writes) == 1


async def test_group_and_send_many(conn: MuxConnection, admin: redis.Redis) -> None:
    admin.delete("mux:g")
    got = await conn.call_many([("INCR", "mux:g"), ("HGET", "mux:g", "f"), ("GET", "mux:g")])
    assert got[0] == 1 and got[2] == b"1"
    assert isinstance(got[1], ReplyError) and got[1].prefix == "WRONGTYPE"
    assert await conn.call_many([]) == []
    # Many singles and groups issued together still come back in their own order.
    singles = [conn.send("INCR", "mux:g") for _ in range(5)]
    group = conn.send_many([("INCR", "mux:g")] * 3)
    assert await asyncio.gather(*singles) == [2, 3, 4, 5, 6]
    assert await group == [7, 8, 9]


async def test_cancelled_call_keeps_the_stream_in_step(
    conn: MuxConnection, admin: redis.Redis
) -> None:
    admin.delete("mux:blocked", "mux:after")
    admin.set("mux:after", "mine")
    # BLPOP holds its reply until another client pushes: a reply that arrives late,
    # on demand, with no timing involved.
    blocked = conn.send("BLPOP", "mux:blocked", 0)
    later = conn.send("GET", "mux:after")
    await until(lambda: conn.in_flight == 2, "both calls written")
    blocked.cancel()  # what asyncio.timeout does to a slow call
    admin.rpush("mux:blocked", "late")
    assert await later == b"mine", "the late BLPOP reply must not reach the next caller"
    assert conn.in_flight == 0 and conn.connects == 1

    # A call that gives up before its turn's write is never sent at all.
    admin.delete("mux:never")
    fut = conn.send("INCR", "mux:never")
    fut.cancel()
    assert await conn.call("GET", "mux:never") is None

    # And with asyncio.timeout, as the store calls it.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await conn.call("BLPOP", "mux:blocked2", 0)
    admin.rpush("mux:blocked2", "late")
    assert await conn.call("GET", "mux:after") == b"mine"


async def test_lost_with_100_in_flight_then_unknowns_retried_exactly(
    own_redis: RedisProcess, admin: redis.Redis
) -> None:
    sha = admin.script_load(ONCE)
    counter = "mux:count:{lost}"
    admin.delete(counter)
    proxy = FaultProxy(own_redis.port or 0, drop=0.0)
    await proxy.start()
    conn = MuxConnection.from_url(proxy.url)
    try:
        assert await conn.call("PING") == b"PONG"
        proxy.drop = 1.0  # from now on every reply is lost and both ends closed
        ids = [f"mux:id:{{lost}}:{i}" for i in range(100)]

        def once(i: int) -> asyncio.Future[Any]:
            return conn.send("EVALSHA", sha, 2, ids[i], counter)

        # 50 run; the BLPOP holds the other 50 in Redis's input until the drop closes
        # the client: half ran, half did not, and the client cannot tell which.
        first = [once(i) for i in range(50)]
        gate = conn.send("BLPOP", "mux:never-pushed", 0)
        second = [once(i) for i in range(50, 100)]
        results = await asyncio.gather(*first, gate, *second, return_exceptions=True)
        assert all(isinstance(r, OutcomeUnknown) for r in results), results
        ran = int(admin.get(counter) or 0)
        assert 1 <= ran <= 50  # a reply was produced (and dropped), so something ran

        proxy.drop = 0.0
        unknown = [i for i, r in enumerate([*results[:50], *results[51:]]) if r is not None]
        retried = await asyncio.gather(*(once(i) for i in unknown))
        assert sum(1 for r in retried if r == -1) == ran  # those ran before: not counted again
        assert int(admin.get(counter) or 0) == 100
        assert conn.connects == 2  # reconnected lazily on the next call
    finally:
        await conn.close()
        await proxy.close()


async def test_reconnects_after_client_kill(conn: MuxConnection, admin: redis.Redis) -> None:
    my_id = await conn.call("CLIENT", "ID")
    admin.client_kill_filter(_id=my_id)
    await until(lambda: not conn.connected, "the kill to reach the client")
    assert await conn.call("PING") == b"PONG"
    assert await conn.call("CLIENT", "ID") != my_id
    assert conn.connects == 2


async def test_connect_failure_backs_off() -> None:
    conn = MuxConnection.from_url(
        f"redis://127.0.0.1:{free_port()}/0", backoff_base_s=60.0, connect_timeout_s=1.0
    )
    try:
        with pytest.raises(NotSent, match="connect to"):
            await conn.call("PING")
        # Within the backoff no new attempt is made: calls fail at once, not sent.
        with pytest.raises(NotSent, match="backoff"):
            await conn.call("PING")
        [failed] = await conn.call_many([("PING",)])
        assert isinstance(failed, NotSent)
    finally:
        await conn.close()
    with pytest.raises(NotSent, match="closed"):
        await conn.call("PING")


async def test_unix_socket_acl_user_select_and_name() -> None:
    # The unix-socket server (its start-up probe closes every socket it tries, also
    # before the server is up: warnings are errors here).
    proc = RedisProcess()
    sock = proc.socket_path
    proc.start()
    try:
        setup = redis.Redis.from_url(f"unix://{sock}")
        setup.acl_setuser(
            "mux", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"]
        )
        setup.close()
        url = f"unix://mux:s3cret@{sock}?db=3&client_name=sidecar-mux"
        conn = open_mux(url)
        assert isinstance(conn, MuxConnection)
        try:
            info = (await conn.call("CLIENT", "INFO")).decode()
            assert "user=mux" in info and "db=3" in info and "name=sidecar-mux" in info
        finally:
            await conn.close()
        wrong = MuxConnection.from_url(f"unix://mux:nope@{sock}")
        with pytest.raises(NotSent, match="AUTH refused"):
            await wrong.call("PING")
        await wrong.close()
    finally:
        proc.close()


async def test_tls_with_client_certificate(tmp_path: Path) -> None:
    make_pki(tmp_path)
    port = free_port()
    proc = RedisProcess(
        port=free_port(),
        extra_args=(
            "--tls-port", str(port),
            "--tls-cert-file", str(tmp_path / "server.pem"),
            "--tls-key-file", str(tmp_path / "server.key"),
            "--tls-ca-cert-file", str(tmp_path / "ca.pem"),
            "--tls-auth-clients", "yes",
        )
    )  # fmt: skip
    proc.start()
    try:
        base = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.pem'}"
        client_cert = f"&ssl_certfile={tmp_path / 'chat.pem'}&ssl_keyfile={tmp_path / 'chat.key'}"
        conn = MuxConnection.from_url(base + client_cert)
        try:
            assert await asyncio.gather(*(conn.call("PING") for _ in range(10))) == [b"PONG"] * 10
        finally:
            await conn.close()
        # Without a client certificate the server refuses the handshake: not sent.
        anonymous = MuxConnection.from_url(base)
        with pytest.raises(NotSent):
            await anonymous.call("PING")
        await anonymous.close()
    finally:
        proc.close()


async def test_close_fails_waiters_and_leaves_no_socket(own_redis: RedisProcess) -> None:
    conn = MuxConnection.from_url(own_redis.url)
    blocked = conn.send("BLPOP", "mux:close-blocked", 0)
    await until(lambda: conn.in_flight == 1, "the call written")
    await conn.close()
    with pytest.raises(OutcomeUnknown):
        await blocked
    assert not conn.connected


def test_runs_on_uvloop(own_redis: RedisProcess) -> None:
    """The sidecar runs on uvloop, whose transports do not subclass asyncio's."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> list[Any]:
        conn = MuxConnection.from_url(own_redis.url)
        try:
            return await asyncio.gather(*(conn.call("PING") for _ in range(3)))
        finally:
            await conn.close()

    assert uvloop.run(main()) == [b"PONG"] * 3
