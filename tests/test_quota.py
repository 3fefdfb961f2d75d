"""The monthly unreplied quota (SPEC §1.1) through the gRPC API against real Redis."""

from __future__ import annotations

import asyncio

import grpc

from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import APRIL, DAY, T0, Backend, ServerFactory, acct


def send(
    sender: str,
    recipient: str,
    at: int = T0,
    mid: str | None = None,
    via: pb.Via.ValueType = pb.PHONE_NUMBER,
    dry_run: bool = False,
) -> pb.CanSendRequest:
    return pb.CanSendRequest(
        sender=sender,
        recipient=recipient,
        message_id=mid or acct("m"),
        at_unix_ms=at,
        via=via,
        dry_run=dry_run,
    )


async def test_worked_example(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    r = [acct(f"r{i}") for i in range(7)]
    # 1. Five strangers count; APPROACHING at 4, AT_LIMIT at 5.
    warnings = []
    for i in range(1, 6):
        resp = await stub.CanSend(send(s, r[i], T0 + i))
        assert (resp.decision, resp.counted, resp.usage.used) == (pb.ALLOW, True, i)
        warnings.append(resp.warning)
    assert warnings == [pb.NONE, pb.NONE, pb.NONE, pb.APPROACHING, pb.AT_LIMIT]
    # 2. The sixth stranger is denied until next month.
    resp = await stub.CanSend(send(s, r[6], T0 + 10))
    assert resp.decision == pb.DENY
    assert resp.reason == pb.MONTHLY_UNREPLIED_LIMIT
    assert not resp.counted
    assert resp.retry_after_ms == APRIL - (T0 + 10)
    assert resp.usage.remaining == 0
    # 3. R3 replies: S's message to R3 stops counting.
    refunded = await stub.RecordReply(
        pb.RecordReplyRequest(replier=r[3], replied_to=s, at_unix_ms=T0 + 20)
    )
    assert refunded.refunded == 1
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0 + 21))
    assert usage.usage.used == 4
    # 4. S → R3 is free; S → R6 now allowed and counted.
    resp = await stub.CanSend(send(s, r[3], T0 + 30))
    assert (resp.decision, resp.counted, resp.usage.used) == (pb.ALLOW, False, 4)
    resp = await stub.CanSend(send(s, r[6], T0 + 31))
    assert (resp.decision, resp.counted, resp.usage.used) == (pb.ALLOW, True, 5)
    # 5. F, never written to, messages S: S → F is a reply, free even at the limit.
    f = acct("f")
    resp = await stub.CanSend(send(f, s, T0 + 40))
    assert resp.decision == pb.ALLOW
    resp = await stub.CanSend(send(s, f, T0 + 41))
    assert (resp.decision, resp.reason, resp.counted, resp.usage.used) == (
        pb.ALLOW,
        pb.REASON_UNSPECIFIED,
        False,
        5,
    )
    # 6. The first instant of next month: usage 0 again.
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=APRIL))
    assert usage.usage.used == 0
    assert usage.usage.remaining == 5
    before = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=APRIL - 1))
    assert before.usage.used == 5
    assert before.usage.resets_at == APRIL


async def test_reply_by_message_refunds_every_counted_message(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    for i in range(3):
        resp = await stub.CanSend(send(s, r, T0 + i))
        assert resp.counted
    assert resp.usage.used == 3
    # r writes back (a CanSend r → s, itself free: s wrote to r): refunds all three,
    # and s → r is free from now on.
    reply = await stub.CanSend(send(r, s, T0 + 10))
    assert reply.decision == pb.ALLOW and not reply.counted
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0 + 11))
    assert usage.usage.used == 0
    resp = await stub.CanSend(send(s, r, T0 + 12))
    assert (resp.counted, resp.usage.used) == (False, 0)


async def test_recipient_who_was_written_to_replies_free(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    await stub.CanSend(send(s, r, T0))
    # r's message to s is a reply: s wrote to r within the window.
    resp = await stub.CanSend(send(r, s, T0 + 1))
    assert (resp.decision, resp.counted, resp.usage.used) == (pb.ALLOW, False, 0)


async def test_conversation_window_closes_after_30_days(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    await stub.RecordReply(pb.RecordReplyRequest(replier=r, replied_to=s, at_unix_ms=T0))
    inside = await stub.CanSend(send(s, r, T0 + 30 * DAY - 1))
    assert not inside.counted
    outside = await stub.CanSend(send(s, r, T0 + 30 * DAY + 1))
    assert outside.counted


async def test_refund_only_touches_this_month(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    await stub.CanSend(send(s, r, APRIL - 10))
    refunded = await stub.RecordReply(
        pb.RecordReplyRequest(replier=r, replied_to=s, at_unix_ms=APRIL + 10)
    )
    assert refunded.refunded == 0
    last_month = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=APRIL - 1))
    assert last_month.usage.used == 1


async def test_duplicate_message_id_counts_once(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    first = await stub.CanSend(send(s, r, T0, mid="m1"))
    again = await stub.CanSend(send(s, r, T0 + 1000, mid="m1"))
    assert first.counted and not first.duplicate
    assert again.duplicate and again.counted and again.decision == pb.ALLOW
    assert again.usage.used == 1
    # Still known a day later (kept at least 24 h) ...
    later = await stub.CanSend(send(s, r, T0 + DAY, mid="m1"))
    assert later.duplicate and later.usage.used == 1
    # ... and forgotten after three days: counted as a new message.
    much_later = await stub.CanSend(send(s, r, T0 + 3 * DAY, mid="m1"))
    assert not much_later.duplicate and much_later.usage.used == 2


async def test_duplicate_of_a_denial_is_a_denial(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    for i in range(5):
        await stub.CanSend(send(s, acct("r"), T0 + i))
    denied = await stub.CanSend(send(s, acct("r"), T0 + 10, mid="x"))
    assert denied.decision == pb.DENY
    replay = await stub.CanSend(send(s, acct("r"), T0 + 20, mid="x"))
    assert replay.duplicate and replay.decision == pb.DENY
    assert replay.reason == pb.MONTHLY_UNREPLIED_LIMIT
    assert replay.retry_after_ms == denied.retry_after_ms


async def test_same_message_id_for_two_senders_is_two_messages(stub: pb_grpc.SendGateStub) -> None:
    a, b, r = acct("a"), acct("b"), acct("r")
    ra = await stub.CanSend(send(a, r, T0, mid="shared"))
    rb = await stub.CanSend(send(b, r, T0, mid="shared"))
    assert not ra.duplicate and not rb.duplicate


async def test_dry_run_records_nothing(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    dry = await stub.CanSend(send(s, r, T0, mid="d1", dry_run=True))
    assert dry.decision == pb.ALLOW and dry.counted and dry.usage.used == 0
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0))
    assert usage.usage.used == 0
    # The message_id was not remembered and r was not told about s.
    real = await stub.CanSend(send(s, r, T0 + 1, mid="d1"))
    assert not real.duplicate and real.usage.used == 1
    s2, r2 = acct("s"), acct("r")
    await stub.CanSend(send(s2, r2, T0, dry_run=True))
    back = await stub.CanSend(send(r2, s2, T0 + 1))
    assert back.counted  # no conversation was opened by the dry run


async def test_dry_run_at_the_limit_reports_the_denial(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    for i in range(5):
        await stub.CanSend(send(s, acct("r"), T0 + i))
    dry = await stub.CanSend(send(s, acct("r"), T0 + 10, dry_run=True))
    assert (dry.decision, dry.reason, dry.warning) == (
        pb.DENY,
        pb.MONTHLY_UNREPLIED_LIMIT,
        pb.AT_LIMIT,
    )


async def test_username_sub_limit(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    for i in range(2):
        resp = await stub.CanSend(send(s, acct("r"), T0 + i, via=pb.USERNAME))
        assert resp.counted and resp.usage.username_used == i + 1
    denied = await stub.CanSend(send(s, acct("r"), T0 + 5, via=pb.USERNAME))
    assert (denied.decision, denied.reason) == (pb.DENY, pb.USERNAME_LIMIT)
    assert denied.usage.username_limit == 2
    by_phone = await stub.CanSend(send(s, acct("r"), T0 + 6, via=pb.PHONE_NUMBER))
    assert by_phone.decision == pb.ALLOW and by_phone.usage.used == 3


async def test_exactly_limit_admitted_under_concurrency(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    n = 60  # >= 10 x limit 5
    results = await asyncio.gather(*(stub.CanSend(send(s, acct("r"), T0 + i)) for i in range(n)))
    allowed = [r for r in results if r.decision == pb.ALLOW]
    assert len(allowed) == 5
    assert sorted(r.usage.used for r in allowed) == [1, 2, 3, 4, 5]
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0 + n))
    assert usage.usage.used == 5


async def test_concurrent_duplicates_count_once(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    results = await asyncio.gather(*(stub.CanSend(send(s, r, T0, mid="same")) for _ in range(20)))
    assert sum(not x.duplicate for x in results) == 1
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0))
    assert usage.usage.used == 1


async def test_batch_keeps_order_and_the_limit(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    reqs = [send(s, acct("r"), T0 + i) for i in range(8)]
    resp = await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs))
    assert [r.decision for r in resp.responses] == [pb.ALLOW] * 5 + [pb.DENY] * 3
    assert [r.usage.used for r in resp.responses[:5]] == [1, 2, 3, 4, 5]
    again = await stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs[:2]))
    assert all(r.duplicate for r in again.responses)


async def test_batch_allowed_messages_open_conversations(stub: pb_grpc.SendGateStub) -> None:
    s, r = acct("s"), acct("r")
    await stub.CanSendBatch(pb.CanSendBatchRequest(requests=[send(s, r, T0)]))
    back = await stub.CanSend(send(r, s, T0 + 1))
    assert not back.counted
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0 + 2))
    assert usage.usage.used == 0  # r's message refunded s's


async def test_concurrent_calls_on_one_connection_keep_exact_admission(
    server_factory: ServerFactory,
) -> None:
    """Concurrent calls share the multiplexed connection (one write per loop turn)."""
    server = await server_factory(limits={"personal_monthly": 5}, bulk={"enabled": False})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = pb_grpc.SendGateStub(ch)
        s = acct("s")
        results = await asyncio.gather(
            *(stub.CanSend(send(s, acct("r"), T0 + i)) for i in range(60))
        )
        assert sum(r.decision == pb.ALLOW for r in results) == 5
        dups = await asyncio.gather(
            *(stub.CanSend(send(s, "x", T0, mid="same")) for _ in range(10))
        )
        assert sum(not d.duplicate for d in dups) == 1


async def test_more_concurrent_calls_than_redis_connections(
    server_factory: ServerFactory, backend: Backend
) -> None:
    """Calls wait for a free connection inside their budget instead of failing."""
    server = await server_factory(
        redis_url=backend.url,
        failure_mode="fail_closed",  # any Redis error would show as a denial
        limits={"personal_monthly": 5},
        bulk={"enabled": False},
        redis={"max_connections": 2},
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        stub = pb_grpc.SendGateStub(ch)
        senders = [acct("s") for _ in range(40)]
        results = await asyncio.gather(
            *(stub.CanSend(send(s, acct("r"), T0)) for s in senders for _ in range(2))
        )
        assert not any(r.degraded for r in results)
        assert all(r.decision == pb.ALLOW for r in results)
