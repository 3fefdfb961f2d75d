"""ListEvents (SendGateAdmin): pages of sendgate:events on standalone Redis and Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
import pytest_asyncio

from sendgate.breaker import CircuitBreaker
from sendgate.domain import LoggedEvent
from sendgate.events_feed import LAST_ID, MAX_SCAN, EventFeed
from sendgate.events_stream import to_event
from sendgate.guard import Guard
from sendgate.keys import EVENTS_STREAM
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import T0, Backend, ServerFactory, acct
from tests.test_validation import expect_exact

# ------------------------------------------------------------ paging logic (no I/O)


class ListReader:
    """A stream held in a list: the exclusive-start XRANGE contract, and a read count."""

    def __init__(self, kinds: Sequence[str]) -> None:
        self.entries = [LoggedEvent(f"{i + 1}-0", kind) for i, kind in enumerate(kinds)]
        self.reads = 0

    async def after(self, after_id: str, count: int, budget_s: float) -> list[LoggedEvent]:
        self.reads += 1
        key = tuple(int(p) for p in after_id.split("-")) if after_id else (-1, 0)
        later = [e for e in self.entries if tuple(int(p) for p in e.id.split("-")) > key]
        return later[:count]


def feed(reader: ListReader) -> EventFeed:
    return EventFeed(reader, Guard(1.0, CircuitBreaker(5, 1.0)))


async def test_page_stops_at_the_limit_and_resumes_after_it() -> None:
    f = feed(ListReader(["a", "b", "c"]))
    events, next_id = await f.page("", 2, frozenset(), None)
    assert ([e.id for e in events], next_id) == (["1-0", "2-0"], "2-0")
    events, next_id = await f.page(next_id, 2, frozenset(), None)
    assert ([e.id for e in events], next_id) == (["3-0"], "3-0")
    assert await f.page(next_id, 2, frozenset(), None) == ([], "3-0")  # nothing new: unchanged


async def test_filtered_page_moves_past_skipped_entries() -> None:
    f = feed(ListReader(["a", "b", "a", "b", "b"]))
    events, next_id = await f.page("", 10, frozenset({"a"}), None)
    assert ([e.id for e in events], next_id) == (["1-0", "3-0"], "5-0")
    assert await f.page(next_id, 10, frozenset({"a"}), None) == ([], "5-0")


async def test_filtered_page_stops_mid_batch_at_the_limit() -> None:
    f = feed(ListReader(["a", "b", "a", "a"]))
    events, next_id = await f.page("", 2, frozenset({"a"}), None)
    assert ([e.id for e in events], next_id) == (["1-0", "3-0"], "3-0")  # 4-0 not yet read


async def test_filtered_scan_is_bounded_per_call() -> None:
    reader = ListReader(["b"] * (MAX_SCAN + 5) + ["a"])
    f = feed(reader)
    events, next_id = await f.page("", 10, frozenset({"a"}), None)
    assert (events, next_id, reader.reads) == ([], f"{MAX_SCAN}-0", 10)  # progress, no loop
    events, next_id = await f.page(next_id, 10, frozenset({"a"}), None)
    assert [e.kind for e in events] == ["a"]


async def test_nothing_follows_the_last_possible_id() -> None:
    reader = ListReader(["a"])
    assert await feed(reader).page(LAST_ID, 10, frozenset(), None) == ([], LAST_ID)
    assert reader.reads == 0


def test_stream_entries_become_events() -> None:
    e = to_event(b"5-1", {b"type": b"limit_hit", b"account": b"s", b"at": b"7", b"limit": b"x"})
    assert e == LoggedEvent("5-1", "limit_hit", "s", 7, (("limit", "x"),))
    odd = to_event(b"9-0", {b"type": b"t"})  # no `at`: the id's time
    assert (odd.account, odd.at_ms, odd.attributes) == ("", 9, ())


# ------------------------------------------------------------ the RPC on real Redis


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin(
    server_factory: ServerFactory, backend: Backend
) -> AsyncIterator[tuple[pb_grpc.SendGateAdminStub, Backend]]:
    server = await server_factory(redis_url=backend.url, ban_evasion={"hmac_key": "k"})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield pb_grpc.SendGateAdminStub(ch), backend


async def newest_id(backend: Backend) -> str:
    """Where the shared stream ends now: tests read only what they add after it."""
    last = await asyncio.to_thread(backend.inspect.xrevrange, EVENTS_STREAM, count=1)
    return first_id(last)


def first_id(entries: Any) -> str:
    """The id of the first of redis-py's (id, fields) stream entries, or ""."""
    return str(entries[0][0].decode()) if entries else ""


async def ban(stub: pb_grpc.SendGateAdminStub, account: str, at: int = T0) -> None:
    req = pb.BanAccountRequest(
        account=account, reason="spam", identifiers=["device:d"], at_unix_ms=at
    )
    await stub.BanAccount(req)


async def unban(stub: pb_grpc.SendGateAdminStub, account: str) -> None:
    await stub.UnbanAccount(pb.UnbanAccountRequest(account=account, at_unix_ms=T0))


async def test_events_page_in_order_and_follow_from_next_id(
    admin: tuple[pb_grpc.SendGateAdminStub, Backend],
) -> None:
    stub, backend = admin
    start = await newest_id(backend)
    accounts = [acct("ev") for _ in range(3)]
    for i, a in enumerate(accounts):
        await ban(stub, a, T0 + i)
    first = await stub.ListEvents(pb.ListEventsRequest(after_id=start, limit=2))
    assert [(e.kind, e.account, e.at_unix_ms) for e in first.events] == [
        ("account_banned", accounts[0], T0), ("account_banned", accounts[1], T0 + 1),
    ]  # fmt: skip
    # Identifiers only as a count: never in clear.
    assert dict(first.events[0].attributes) == {"reason": "spam", "identifiers": "1"}
    assert first.next_id == first.events[-1].id
    second = await stub.ListEvents(pb.ListEventsRequest(after_id=first.next_id, limit=2))
    assert [e.account for e in second.events] == [accounts[2]]
    third = await stub.ListEvents(pb.ListEventsRequest(after_id=second.next_id, limit=2))
    assert (list(third.events), third.next_id) == ([], second.next_id)


async def test_kinds_filter_and_next_id_past_skipped(
    admin: tuple[pb_grpc.SendGateAdminStub, Backend],
) -> None:
    stub, backend = admin
    start = await newest_id(backend)
    a, b = acct("k"), acct("k")
    await ban(stub, a)
    await unban(stub, a)
    await ban(stub, b)  # the newest entry: skipped by the filter, yet read
    got = await stub.ListEvents(pb.ListEventsRequest(after_id=start, kinds=["account_unbanned"]))
    assert [(e.kind, e.account) for e in got.events] == [("account_unbanned", a)]
    assert got.next_id == await newest_id(backend)
    again = await stub.ListEvents(
        pb.ListEventsRequest(after_id=got.next_id, kinds=["account_unbanned"])
    )
    assert (list(again.events), again.next_id) == ([], got.next_id)


async def test_empty_after_id_starts_at_the_oldest_kept(
    admin: tuple[pb_grpc.SendGateAdminStub, Backend],
) -> None:
    stub, backend = admin
    await ban(stub, acct("old"))
    oldest = await asyncio.to_thread(backend.inspect.xrange, EVENTS_STREAM, count=1)
    got = await stub.ListEvents(pb.ListEventsRequest(limit=1))
    assert got.events[0].id == first_id(oldest)
    assert got.next_id == got.events[0].id


async def test_default_page_is_100_and_the_cap_1000(
    admin: tuple[pb_grpc.SendGateAdminStub, Backend],
) -> None:
    stub, backend = admin
    start = await newest_id(backend)
    for _ in range(101):
        await ban(stub, acct("many"))
    assert len((await stub.ListEvents(pb.ListEventsRequest(after_id=start))).events) == 100
    capped = await stub.ListEvents(pb.ListEventsRequest(after_id=start, limit=5000))
    assert len(capped.events) == 101  # all there are, under the cap of 1000


@pytest.mark.parametrize(
    ("request_fields", "field", "message"),
    [
        ({"after_id": "abc"}, "after_id", "must be an event id <ms>-<seq> (a next_id), or empty"),
        ({"after_id": "5"}, "after_id", "must be an event id <ms>-<seq> (a next_id), or empty"),
        ({"after_id": "(5-0"}, "after_id", "must be an event id <ms>-<seq> (a next_id), or empty"),
        ({"after_id": f"{2**64}-0"}, "after_id",
         "must be an event id <ms>-<seq> (a next_id), or empty"),
        ({"limit": -1}, "limit", "must not be negative"),
        ({"kinds": ["limit_hit", "Bad Kind"]}, "kinds[1]",
         "must be an event kind: lower-case letters, digits, _"),
        ({"kinds": [""]}, "kinds[0]", "must be an event kind: lower-case letters, digits, _"),
        ({"kinds": [f"k{i}" for i in range(33)]}, "kinds", "more than 32 kinds"),
        ({"at_unix_ms": 1_773_144_000}, "at_unix_ms",
         "1773144000 looks like seconds: times are Unix milliseconds (UTC)"),
    ],
)  # fmt: skip
async def test_list_events_rejects(
    admin: tuple[pb_grpc.SendGateAdminStub, Backend],
    request_fields: dict[str, object],
    field: str,
    message: str,
) -> None:
    stub, _ = admin
    await expect_exact(stub.ListEvents(pb.ListEventsRequest(**request_fields)), field, message)  # type: ignore[arg-type]


async def test_list_events_needs_the_admin_token(server_factory: ServerFactory) -> None:
    server = await server_factory(auth={"admin_token": "adm", "sendgate_token": "sg"})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = pb_grpc.SendGateAdminStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListEvents(pb.ListEventsRequest(limit=1))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListEvents(
                pb.ListEventsRequest(), metadata=(("authorization", "Bearer sg"),)
            )
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED  # SendGate's token
        ok = await stub.ListEvents(
            pb.ListEventsRequest(limit=1), metadata=(("authorization", "Bearer adm"),)
        )
        assert len(ok.events) <= 1
