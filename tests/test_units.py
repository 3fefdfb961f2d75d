"""Pure logic without I/O: months, breaker, keys, enums, validation, client core."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from zoneinfo import ZoneInfo

import pytest

from sendgate import domain, keys, validation
from sendgate.auth import is_loopback
from sendgate.breaker import BreakerState, CircuitBreaker
from sendgate.errors import InvalidArgument
from sendgate.guard import Guard
from sendgate.months import MonthCache, month_table
from sendgate.store.redis_store import message_key
from sendgate.v1 import sendgate_pb2 as pb


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo | None = None) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=tz or UTC).timestamp() * 1000)


def test_month_table_utc_and_year_end() -> None:
    t = month_table(ms(2026, 12, 31, 23, 59), ZoneInfo("UTC"))
    assert t.labels == ("202611", "202612", "202701")
    assert t.starts == (ms(2026, 11, 1), ms(2026, 12, 1), ms(2027, 1, 1), ms(2027, 2, 1))
    jan = month_table(ms(2027, 1, 1), ZoneInfo("UTC"))
    assert jan.labels[1] == "202701" and jan.starts[1] == ms(2027, 1, 1)


def test_month_table_in_a_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:30 UTC on 31 March is already April in Berlin (UTC+2 in summer).
    t = month_table(ms(2026, 3, 31, 23, 30), berlin)
    assert t.labels[1] == "202604"
    assert t.starts[1] == ms(2026, 4, 1, tz=berlin)
    assert t.starts[1] == ms(2026, 3, 31, 22, 0)


def test_month_cache_reuses_and_moves_on() -> None:
    cache = MonthCache(ZoneInfo("UTC"))
    a = cache.table(ms(2026, 3, 5))
    assert cache.table(ms(2026, 3, 20)) is a
    b = cache.table(ms(2026, 4, 1))
    assert b.labels[1] == "202604"
    assert cache.table(ms(2026, 3, 20)).labels[1] == "202603"  # a replayed past time


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    b = CircuitBreaker(failure_threshold=2, open_seconds=1.0, clock=lambda: now[0])
    assert b.allow()
    b.failure()
    assert b.state is BreakerState.CLOSED
    b.failure()
    assert b.state.value == "open" and not b.allow()
    now[0] = 1.5
    assert b.state.value == "half_open"
    assert b.allow()  # one trial
    assert not b.allow()  # and only one
    b.failure()
    assert b.state.value == "open"
    now[0] = 3.0
    assert b.allow()
    b.success()
    assert b.state is BreakerState.CLOSED and b.allow()


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=2, open_seconds=1.0, clock=lambda: 0.0)
    b.failure()
    b.success()
    b.failure()
    assert b.state is BreakerState.CLOSED


def test_keys_share_one_tag_and_escape_braces() -> None:
    assert keys.account_key("alice") == "sg:{alice}:a"
    assert keys.account_base("a{b}c") == "sg:{a%7Bb%7Dc}:"
    assert keys.account_base("50%") == "sg:{50%25}:"
    assert keys.account_base("a}") != keys.account_base("a%7D")


def test_message_key_is_short_and_stable() -> None:
    assert message_key("m-1") == message_key("m-1")
    assert message_key("m-1") != message_key("m-2")
    assert len(message_key("x" * 256)) == 4  # bytes of the idempotency record


@pytest.mark.parametrize(
    ("domain_enum", "wire_enum"),
    [(domain.Decision, pb.Decision), (domain.Via, pb.Via), (domain.Warning, pb.Warning),
     (domain.AccountKind, pb.AccountKind)],
)  # fmt: skip
def test_domain_enums_match_the_wire(domain_enum: type[IntEnum], wire_enum: object) -> None:
    for member in domain_enum:
        assert wire_enum.Value(member.name) == member.value  # type: ignore[attr-defined]


def test_reason_enum_matches_the_wire() -> None:
    for member in domain.Reason:
        name = "REASON_UNSPECIFIED" if member is domain.Reason.NONE else member.name
        assert pb.Reason.Value(name) == member.value


def test_validation_rules() -> None:
    assert validation.account_id("a" * 128, "f") == "a" * 128
    with pytest.raises(InvalidArgument) as info:
        validation.account_id("a" * 129, "sender")
    assert info.value.field == "sender"
    with pytest.raises(InvalidArgument):
        validation.account_id("tab\there", "sender")
    assert validation.via(0) is domain.Via.PHONE_NUMBER
    with pytest.raises(InvalidArgument):
        validation.via(3)
    assert validation.client_time(0, False) == 0
    with pytest.raises(InvalidArgument):
        validation.client_time(5, False)
    with pytest.raises(InvalidArgument) as info:
        validation.send_request(
            sender="a", recipient="a", message_id_="m", via_=0, dry_run=False, at_unix_ms=0,
            allow_client_time=False, prefix="requests[2].",
        )  # fmt: skip
    assert info.value.field == "requests[2].recipient"


def test_loopback_peers() -> None:
    assert is_loopback("ipv4:127.0.0.1:5000")
    assert is_loopback("ipv6:[::1]:5000")
    assert is_loopback("unix:/tmp/x.sock")
    assert not is_loopback("ipv4:10.0.0.1:5000")
    assert not is_loopback("ipv6:[2001:db8::1]:5000")


def test_batch_budget_grows_with_size_but_respects_the_deadline() -> None:
    g = Guard(0.1, CircuitBreaker(5, 1.0))
    assert g.budget(None) == 0.1
    assert g.budget(None, 101) == pytest.approx(1.1)
    assert g.budget(0.5, 101) == pytest.approx(0.45)  # a tenth kept for the answer
    assert g.budget(2.0, 101) == pytest.approx(1.1)  # the own budget binds
    assert g.budget(0.03, 1) == pytest.approx(0.025)  # at least 5 ms kept
    assert g.budget(1.5, 101) == pytest.approx(1.1)
    assert g.budget(1.1, 101) == pytest.approx(1.05)  # at most 50 ms kept
