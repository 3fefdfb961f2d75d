"""The function library: layouts, built-in configuration, months, lifecycle, versions,
compact idempotency records and batches by sender (real redis-server, no mocks)."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
import redis

from sendgate.config import load_settings
from sendgate.domain import Decision, Reason, SendRequest
from sendgate.embedded_redis import RedisProcess
from sendgate.errors import StartupError
from sendgate.months import month_table
from sendgate.store import functions, layout
from sendgate.store.library import ID_LEN, build
from sendgate.store.redis_store import RedisStore, message_args
from sendgate.store.version import check_server, parse_version
from tests.conftest import DAY, T0, acct

# Every function and its argument count: a change here is a change of the wire.
PINNED = {
    "can_send": (1, 5), "send_local": (2, 6), "send_group": (1, 2), "note_inbound": (1, 2),
    "usage": (1, 2), "upsert_account": (1, 5), "feedback": (1, 3), "opt_in": (1, 3),
    "set_allowance": (1, 3), "exception_request": (1, 6), "exception_review": (1, 5),
    "exception_list": (1, 4), "ban": (1, 3), "register": (1, 3), "register_account": (1, 2),
    "link_sources": (1, 1), "link": (1, 2), "unlink": (1, 2), "clear_review": (1, 1),
    "review_state": (1, 1), "forget": (1, 1),
}  # fmt: skip


def test_every_function_has_a_pinned_layout() -> None:
    got = {name: (len(fn.keys), len(fn.args)) for name, fn in layout.FUNCTIONS.items()}
    assert got == PINNED
    assert len(layout.DECISION) == 19 and len(layout.USAGE) == 13
    assert layout.FUNCTIONS["send_group"].item == layout.MESSAGE


def test_lua_reads_arguments_only_through_the_generated_names() -> None:
    lib = build(load_settings())
    # No position spelled by hand: ARGV/KEYS are gone, args[...] only in generated lines.
    assert "ARGV" not in lib.source and "KEYS[" not in lib.source
    for fn in layout.FUNCTIONS.values():
        assert f"function_name = '{fn.name}_{lib.suffix}'" in lib.source
    assert "{@" not in lib.source


def test_library_name_follows_source_and_configuration() -> None:
    a, b = build(load_settings()), build(load_settings())
    c = build(load_settings(None, limits={"personal_monthly": 7}))
    assert a == b
    assert a.name != c.name and a.function("can_send") != c.function("can_send")
    assert re.fullmatch(r"sendgate_[0-9a-f]{16}", a.name)
    assert "personal = 7," in c.source


@pytest.mark.parametrize(
    ("text", "want"),
    [("7.0.15", (7, 0, 15)), ("7.2.4-rc1", (7, 2, 4)), ("6.2", (6, 2)), ("9.1.2", (9, 1, 2))],
)
def test_version_parse(text: str, want: tuple[int, ...]) -> None:
    assert parse_version(text) == want


def test_old_servers_are_refused_naming_the_version() -> None:
    check_server({"redis_version": "7.0.0"})
    check_server({"redis_version": "7.2.4", "valkey_version": "7.2.5"})
    with pytest.raises(StartupError, match=r"redis 6\.2\.14.*Redis >= 7\.0 or Valkey >= 7\.2"):
        check_server({"redis_version": "6.2.14"})
    with pytest.raises(StartupError, match=r"valkey 7\.1\.0"):
        check_server({"redis_version": "7.1.0", "valkey_version": "7.1.0"})


SETTINGS = load_settings(None, limits={"personal_monthly": 5}, bulk={"enabled": False})


@pytest_asyncio.fixture(loop_scope="session")
async def store(redis_proc: RedisProcess) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(redis_proc.url, library=build(SETTINGS))
    await s.prepare(allow_evicting=False)  # the real 7.0.15 passes the version check
    yield s
    await s.close()


def req(sender: str, recipient: str, mid: str, at: int = T0) -> SendRequest:
    return SendRequest(sender=sender, recipient=recipient, message_id=mid, at_ms=at)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize(
    "when", [(2026, 3, 10), (2026, 12, 31, 23), (2027, 1, 1), (2000, 2, 1), (2099, 12, 31)]
)
async def test_built_in_month_table_matches_python(
    tz: str, when: tuple[int, ...], redis_proc: RedisProcess
) -> None:
    settings = load_settings(None, limits={"timezone": tz})
    y, m, d, *h = when
    at = int(datetime(y, m, d, h[0] if h else 0, tzinfo=ZoneInfo(tz)).timestamp() * 1000)
    s = RedisStore.from_url(redis_proc.url, library=build(settings))
    try:
        await s.prepare(allow_evicting=False)
        for t in (at, at + 1, at - 1):
            usage = (await s.account(acct(), t, 2.0)).usage
            assert usage.resets_at == month_table(t, ZoneInfo(tz)).starts[2]
    finally:
        await s.close()


async def test_replay_a_day_later_answers_the_original_denial(store: RedisStore) -> None:
    s = acct("s")
    for i in range(SETTINGS.limits.personal_monthly):
        await store.send_local(req(s, acct("r"), f"m{i}"), 2.0)
    denied = await store.send_local(req(s, acct("r"), "over"), 2.0)
    assert (denied.decision, denied.reason) == (Decision.DENY, Reason.MONTHLY_UNREPLIED_LIMIT)
    again = await store.send_local(req(s, acct("r"), "over", T0 + DAY), 2.0)
    assert again.duplicate and (again.decision, again.reason) == (denied.decision, denied.reason)
    assert again.retry_after_ms == denied.retry_after_ms
    first = await store.send_local(req(s, acct("r"), "m0", T0 + DAY), 2.0)
    assert first.duplicate and first.counted and first.decision is Decision.ALLOW


async def test_idempotency_record_is_a_few_bytes_per_message(
    store: RedisStore, redis_sync: redis.Redis
) -> None:
    s = acct("s")
    reqs = [req(s, acct("r"), f"m{i}") for i in range(200)]
    await store.can_send_many(reqs, 5.0)  # 5 allowed, 195 denied: every one recorded
    bucket = T0 // (load_settings().idempotency_hours * 3_600_000)
    record = redis_sync.get(f"sg:{{{s}}}:m")
    # One string for both buckets: header (bucket, bytes of the older bucket), records.
    assert isinstance(record, bytes) and len(record) == 8 + 200 * (ID_LEN + 1)
    assert struct.unpack("<II", record[:8]) == (bucket, 0)


async def test_a_batch_is_one_call_per_sender(store: RedisStore, redis_sync: redis.Redis) -> None:
    a, b = acct("a"), acct("b")
    reqs = [req(a if i % 3 else b, acct("r"), f"m{i}") for i in range(99)]
    before = redis_sync.info("commandstats").get("cmdstat_fcall", {}).get("calls", 0)
    out = await store.can_send_many(reqs, 5.0)
    after = redis_sync.info("commandstats")["cmdstat_fcall"]["calls"]
    assert after - before == 2
    # In request order per sender: usage climbs by one per message up to the limit.
    used = [d.usage.used for d, r in zip(out, reqs, strict=True) if r.sender == b]
    assert used == [1, 2, 3, 4, 5] + [5] * 28


async def test_a_bad_message_in_a_group_writes_nothing(
    store: RedisStore, redis_sync: redis.Redis
) -> None:
    s = acct("s")
    good = message_args(req(s, acct("r"), "ok"))
    bad = [*good[:2], b"sh", *good[3:]]
    command = ("FCALL", store.library.function("send_group"), 1, f"sg:{{{s}}}:a", 0, s)
    with pytest.raises(redis.ResponseError, match="sendgate: bad message key"):
        redis_sync.execute_command(*command, *good, *bad)  # type: ignore[no-untyped-call]
    assert redis_sync.keys(f"sg:{{{s}}}:*") == []
    with pytest.raises(redis.ResponseError, match="can_send takes 5 arguments"):
        redis_sync.execute_command(  # type: ignore[no-untyped-call]
            "FCALL", store.library.function("can_send"), 1, f"sg:{{{s}}}:a", *good[:4]
        )


async def test_prune_deletes_only_libraries_without_heartbeat(
    store: RedisStore, redis_sync: redis.Redis
) -> None:
    old = build(load_settings(None, limits={"personal_monthly": 11}))
    kept = build(load_settings(None, limits={"personal_monthly": 12}))
    client = store._client  # the store's own connection, as start-up uses it
    await functions.load(client, old)
    await functions.load(client, kept)
    redis_sync.function_load("#!lua name=other\nredis.register_function('x', function() end)")
    redis_sync.delete(functions.heartbeat_key(old.name))  # as if it expired days ago
    try:
        deleted = await functions.prune(client, keep=store.library)
        names = {e[1].decode() for e in redis_sync.function_list()}
        assert old.name in deleted and old.name not in names
        assert {kept.name, store.library.name, "other"} <= names
        # A sidecar still calling a pruned library loads it again and goes on.
        revived = RedisStore.from_url(
            f"redis://127.0.0.1:{redis_sync.connection_pool.connection_kwargs['port']}",
            library=old,
        )
        revived.prepared = True  # prepared before the prune; its next call finds it gone
        try:
            used = (await revived.send_local(req(acct("s"), acct("r"), "m"), 2.0)).usage
            assert used.limit == 11  # its own configuration, not the store fixture's
        finally:
            await revived.close()
        assert old.name in {e[1].decode() for e in redis_sync.function_list()}
    finally:
        redis_sync.function_delete("other")


async def test_concurrent_calls_after_a_flush_share_one_reload(
    store: RedisStore, redis_sync: redis.Redis
) -> None:
    redis_sync.function_flush()
    generation = store._generation
    s = acct("s")
    got = await asyncio.gather(
        *(store.send_local(req(s, acct("r"), f"m{i}"), 5.0) for i in range(20))
    )
    # Each call ran once: five counted (the limit), the rest denied, none a replay.
    assert sum(d.counted for d in got) == 5 and not any(d.duplicate for d in got)
    assert store._generation == generation + 1
