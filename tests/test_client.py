"""The Python clients (sync and asyncio) against a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from sendgate.client import (
    AsyncSendGateClient,
    CanSendResult,
    DeadlineExceeded,
    InvalidArgumentError,
    SendGateClient,
    Unavailable,
)
from sendgate.embedded_redis import free_port
from sendgate.server import SendGateServer
from tests.conftest import T0, acct


async def test_async_client_round_trip(limit5: SendGateServer) -> None:
    s, r = acct("s"), acct("r")
    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}") as sg:
        first = await sg.can_send(s, r, "m1", at_unix_ms=T0)
        assert first.allowed and first.counted and first.usage.used == 1
        assert first.warning == "NONE" and first.reason == "REASON_UNSPECIFIED"
        again = await sg.can_send(s, r, "m1", at_unix_ms=T0)
        assert again.duplicate
        batch = await sg.can_send_batch([(s, acct("r"), "b1"), (s, acct("r"), "b2")], at_unix_ms=T0)
        assert [b.usage.used for b in batch] == [2, 3]
        username = await sg.can_send(s, acct("r"), "u1", via="USERNAME", at_unix_ms=T0)
        assert username.usage.username_used == 1
        assert await sg.record_reply(r, s, at_unix_ms=T0) == 1
        usage = await sg.get_usage(s, at_unix_ms=T0)
        assert (usage.used, usage.limit, usage.remaining) == (3, 5, 2)
        with pytest.raises(InvalidArgumentError) as info:
            await sg.can_send(s, s, "m2")
        assert info.value.field == "recipient"


async def test_sync_client_round_trip(limit5: SendGateServer) -> None:
    def run() -> None:
        s = acct("s")
        with SendGateClient(f"127.0.0.1:{limit5.grpc_port}", timeout=5) as sg:
            assert sg.can_send(s, acct("r"), "m1", at_unix_ms=T0, dry_run=True).usage.used == 0
            assert sg.can_send(s, acct("r"), "m1", at_unix_ms=T0).usage.used == 1
            assert sg.get_usage(s, at_unix_ms=T0).used == 1
            with pytest.raises(InvalidArgumentError) as info:
                sg.get_usage("")
            assert info.value.field == "account"

    await asyncio.to_thread(run)


def test_sync_client_unavailable() -> None:
    with SendGateClient(f"127.0.0.1:{free_port()}", timeout=0.5) as sg, pytest.raises(Unavailable):
        sg.get_usage("x")


async def test_stream_answers_in_order(limit5: SendGateServer) -> None:
    s = acct("s")

    async def messages() -> AsyncIterator[tuple[str, str, str]]:
        for i in range(8):
            yield (s, acct("r"), f"st{i}")

    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}") as sg:
        results = [r async for r in sg.can_send_stream(messages(), at_unix_ms=T0)]
    assert [r.decision for r in results] == ["ALLOW"] * 5 + ["DENY"] * 3
    assert sorted(r.usage.used for r in results[:5]) == [1, 2, 3, 4, 5]


async def test_stream_decides_a_backlog_in_order_per_sender(limit5: SendGateServer) -> None:
    # Written all at once, so most requests arrive while a round trip is out and are
    # decided together (one call per sender): each sender's still in stream order.
    senders = [acct(f"s{k}") for k in range(3)]
    sent = [(senders[i % 3], acct("r"), f"bk{i}") for i in range(240)]

    async def messages() -> AsyncIterator[tuple[str, str, str]]:
        for m in sent:
            yield m

    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}") as sg:
        results = [r async for r in sg.can_send_stream(messages(), at_unix_ms=T0)]
    assert len(results) == len(sent)
    for s in senders:
        mine = [r for (who, _, _), r in zip(sent, results, strict=True) if who == s]
        assert [r.decision for r in mine] == ["ALLOW"] * 5 + ["DENY"] * 75
        assert [r.usage.used for r in mine[:5]] == [1, 2, 3, 4, 5]
        assert all(r.counted for r in mine[:5]) and not any(r.counted for r in mine[5:])


async def test_stream_bad_entry_names_its_index(limit5: SendGateServer) -> None:
    async def messages() -> AsyncIterator[tuple[str, str, str]]:
        yield (acct("s"), acct("r"), "ok")
        yield ("", acct("r"), "bad")

    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}") as sg:
        with pytest.raises(InvalidArgumentError) as info:
            _ = [r async for r in sg.can_send_stream(messages(), at_unix_ms=T0)]
    assert info.value.field == "requests[1].sender"


async def test_sync_stream_answers_in_order(limit5: SendGateServer) -> None:
    s = acct("s")
    messages = ((s, acct("r"), f"st{i}") for i in range(7))

    def run() -> list[CanSendResult]:
        with SendGateClient(f"127.0.0.1:{limit5.grpc_port}", timeout=5) as sg:
            return list(sg.can_send_stream(messages, at_unix_ms=T0))

    results = await asyncio.to_thread(run)
    assert [r.decision for r in results] == ["ALLOW"] * 5 + ["DENY"] * 2


async def test_timeout_none_means_no_deadline(limit5: SendGateServer) -> None:
    await asyncio.to_thread(sync_timeouts, limit5.grpc_port)


def sync_timeouts(port: int) -> None:
    # A nanosecond default is always exceeded; None must not fall back to it.
    with SendGateClient(f"127.0.0.1:{port}", timeout=1e-9) as sg:
        with pytest.raises(DeadlineExceeded):
            sg.get_usage(acct())
        assert sg.get_usage(acct(), timeout=None).limit == 5
        assert sg.can_send(acct("s"), acct("r"), "m1", at_unix_ms=T0, timeout=None).allowed
    with SendGateClient(f"127.0.0.1:{port}", timeout=None) as sg:
        assert sg.get_usage(acct()).limit == 5
        with pytest.raises(DeadlineExceeded):
            sg.get_usage(acct(), timeout=1e-9)
        with pytest.raises(ValueError, match="positive"):
            sg.get_usage(acct(), timeout=0)


async def test_async_timeout_none_means_no_deadline(limit5: SendGateServer) -> None:
    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}", timeout=1e-9) as sg:
        with pytest.raises(DeadlineExceeded):
            await sg.get_usage(acct())
        assert (await sg.get_usage(acct(), timeout=None)).limit == 5


def down_target() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing listens there


def test_fail_open_when_the_sidecar_is_down() -> None:
    with SendGateClient(down_target(), timeout=2, fail_open=True) as sg:
        one = sg.can_send("a", "b", "m1")
        assert one.allowed and one.sidecar_unavailable and one.degraded and not one.counted
        batch = sg.can_send_batch([("a", "b", "m2"), ("a", "c", "m3")])
        assert [r.sidecar_unavailable for r in batch] == [True, True]
        streamed = list(sg.can_send_stream([("a", "b", f"s{i}") for i in range(3)]))
        assert [r.sidecar_unavailable for r in streamed] == [True] * 3
        with pytest.raises(Unavailable):  # only the CanSend calls fail open
            sg.get_usage("a")
    with SendGateClient(down_target(), timeout=2) as sg:  # off by default
        with pytest.raises(Unavailable):
            sg.can_send("a", "b", "m1")
        with pytest.raises(Unavailable):
            list(sg.can_send_stream([("a", "b", "s1")]))


async def test_async_fail_open_when_the_sidecar_is_down() -> None:
    async with AsyncSendGateClient(down_target(), timeout=2, fail_open=True) as sg:
        assert (await sg.can_send("a", "b", "m1")).sidecar_unavailable
        batch = await sg.can_send_batch([("a", "b", "m2")])
        assert batch[0].sidecar_unavailable
        streamed = [r async for r in sg.can_send_stream([("a", "b", f"s{i}") for i in range(3)])]
        assert [r.sidecar_unavailable for r in streamed] == [True] * 3
    async with AsyncSendGateClient(down_target(), timeout=2) as sg:
        with pytest.raises(Unavailable):
            _ = [r async for r in sg.can_send_stream([("a", "b", "s1")])]


async def test_fail_open_still_raises_on_bad_input(limit5: SendGateServer) -> None:
    async with AsyncSendGateClient(
        f"127.0.0.1:{limit5.grpc_port}", timeout=5, fail_open=True
    ) as sg:
        with pytest.raises(InvalidArgumentError):
            await sg.can_send("a", "a", "m1")


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A socket that accepts TCP connections and never answers: a sidecar that hangs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_stream_per_message_deadline(silent_target: str) -> None:
    with SendGateClient(silent_target, timeout=0.2) as sg, pytest.raises(DeadlineExceeded):
        list(sg.can_send_stream([("a", "b", "s1")]))
    with SendGateClient(silent_target, timeout=0.2, fail_open=True) as sg:
        results = list(sg.can_send_stream([("a", "b", "s1"), ("a", "b", "s2")]))
    assert [r.sidecar_unavailable for r in results] == [True, True]


async def test_async_stream_per_message_deadline(silent_target: str) -> None:
    async with AsyncSendGateClient(silent_target, timeout=0.2) as sg:
        with pytest.raises(DeadlineExceeded):
            _ = [r async for r in sg.can_send_stream([("a", "b", "s1")])]
    async with AsyncSendGateClient(silent_target, timeout=0.2, fail_open=True) as sg:
        results = [r async for r in sg.can_send_stream([("a", "b", "s1"), ("a", "b", "s2")])]
    assert [r.sidecar_unavailable for r in results] == [True, True]
    async with AsyncSendGateClient(silent_target, timeout=0.2, fail_open=True) as sg:
        assert (await sg.can_send("a", "b", "m1")).sidecar_unavailable  # late: DEADLINE


async def test_injected_channel(limit5: SendGateServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as channel:
        async with AsyncSendGateClient(channel=channel, timeout=5) as sg:
            assert (await sg.get_usage(acct())).limit == 5
        # The client does not close a channel it was given.
        async with AsyncSendGateClient(channel=channel, timeout=5) as sg:
            assert (await sg.get_usage(acct())).limit == 5
