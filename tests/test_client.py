"""The Python clients (sync and asyncio) against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sendgate.client import (
    AsyncSendGateClient,
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


async def test_stream_bad_entry_names_its_index(limit5: SendGateServer) -> None:
    async def messages() -> AsyncIterator[tuple[str, str, str]]:
        yield (acct("s"), acct("r"), "ok")
        yield ("", acct("r"), "bad")

    async with AsyncSendGateClient(f"127.0.0.1:{limit5.grpc_port}") as sg:
        with pytest.raises(InvalidArgumentError) as info:
            _ = [r async for r in sg.can_send_stream(messages(), at_unix_ms=T0)]
    assert info.value.field == "requests[1].sender"
