"""Bad input is INVALID_ARGUMENT naming the field, and nothing is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import DAY, T0, ServerFactory, acct


@pytest.fixture
def own_redis_url() -> Iterator[str]:
    proc = RedisProcess(port=free_port())
    proc.start()
    yield proc.url
    proc.close()


async def expect_invalid(call: object, field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    err = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (err.details() or "")
    status = rpc_status.from_call(err)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sender": ""}, "sender"),
        ({"sender": "x" * 129}, "sender"),
        ({"sender": "bad\nid"}, "sender"),
        ({"recipient": ""}, "recipient"),
        ({"recipient": "y" * 200}, "recipient"),
        ({"recipient": "SAME"}, "recipient"),
        ({"message_id": ""}, "message_id"),
        ({"message_id": "m" * 257}, "message_id"),
        ({"via": 99}, "via"),
        ({"at_unix_ms": -5}, "at_unix_ms"),
    ],
)
async def test_can_send_rejects(
    stub: pb_grpc.SendGateStub, change: dict[str, object], field: str
) -> None:
    sender = acct("s")
    fields: dict[str, object] = {
        "sender": sender, "recipient": acct("r"), "message_id": "m1", "at_unix_ms": T0,
    }  # fmt: skip
    fields.update(change)
    if fields["recipient"] == "SAME":
        fields["recipient"] = fields["sender"]
    await expect_invalid(stub.CanSend(pb.CanSendRequest(**fields)), field)  # type: ignore[arg-type]
    usage = await stub.GetUsage(pb.GetUsageRequest(account=sender, at_unix_ms=T0))
    assert usage.usage.used == 0


async def test_batch_names_the_entry_and_records_nothing(stub: pb_grpc.SendGateStub) -> None:
    s = acct("s")
    good = pb.CanSendRequest(sender=s, recipient=acct("r"), message_id="ok", at_unix_ms=T0)
    bad = pb.CanSendRequest(sender="", recipient=acct("r"), message_id="b", at_unix_ms=T0)
    call = stub.CanSendBatch(pb.CanSendBatchRequest(requests=[good, bad]))
    await expect_invalid(call, "requests[1].sender")
    usage = await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0))
    assert usage.usage.used == 0


async def test_batch_size_is_bounded(stub: pb_grpc.SendGateStub) -> None:
    reqs = [
        pb.CanSendRequest(sender="s", recipient=f"r{i}", message_id=f"m{i}") for i in range(1001)
    ]
    await expect_invalid(stub.CanSendBatch(pb.CanSendBatchRequest(requests=reqs)), "requests")


async def test_record_reply_rejects(stub: pb_grpc.SendGateStub) -> None:
    await expect_invalid(
        stub.RecordReply(pb.RecordReplyRequest(replier="", replied_to="x")), "replier"
    )
    await expect_invalid(
        stub.RecordReply(pb.RecordReplyRequest(replier="x", replied_to="")), "replied_to"
    )
    await expect_invalid(
        stub.RecordReply(pb.RecordReplyRequest(replier="x", replied_to="x")), "replied_to"
    )


async def test_get_usage_rejects(stub: pb_grpc.SendGateStub) -> None:
    await expect_invalid(stub.GetUsage(pb.GetUsageRequest(account="")), "account")
    await expect_invalid(stub.GetUsage(pb.GetUsageRequest(account="z" * 129)), "account")


async def test_client_time_needs_allow_client_time(
    server_factory: ServerFactory, stub_factory: object
) -> None:
    server: SendGateServer = await server_factory(allow_client_time=False)
    stub = stub_factory(server)  # type: ignore[operator]
    s = acct("s")
    await expect_invalid(
        stub.CanSend(pb.CanSendRequest(sender=s, recipient="r", message_id="m", at_unix_ms=T0)),
        "at_unix_ms",
    )
    await expect_invalid(
        stub.RecordReply(pb.RecordReplyRequest(replier="r", replied_to=s, at_unix_ms=T0)),
        "at_unix_ms",
    )
    await expect_invalid(stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0)), "at_unix_ms")
    ok = await stub.CanSend(pb.CanSendRequest(sender=s, recipient="r", message_id="m"))
    assert ok.decision == pb.ALLOW and ok.usage.used == 1


async def expect_exact(call: object, field: str, message: str) -> None:
    """INVALID_ARGUMENT whose message is exactly `field: message`, naming the field."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == f"{field}: {message}"
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert bad.field_violations[0].field == field


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin(limit5: SendGateServer) -> AsyncIterator[pb_grpc.SendGateAdminStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as ch:
        yield pb_grpc.SendGateAdminStub(ch)


SECONDS = 1_773_144_000  # T0 written in seconds by mistake
LOOKS_LIKE_SECONDS = "looks like seconds: times are Unix milliseconds (UTC)"
PAST_MS = 1_000_000_000_000  # 2001-09-09, after MIN_UNIX_MS and long past


@pytest.mark.parametrize("bad", ["m\n1", "m\x00", "\x1b[31m", "tab\there", "del\x7f"])
async def test_message_id_with_control_characters(stub: pb_grpc.SendGateStub, bad: str) -> None:
    s = acct("s")
    await expect_exact(
        stub.CanSend(pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=bad,
                                       at_unix_ms=T0)),
        "message_id", "contains control characters",
    )  # fmt: skip
    assert (await stub.GetUsage(pb.GetUsageRequest(account=s, at_unix_ms=T0))).usage.used == 0


async def test_message_id_may_hold_any_other_unicode(stub: pb_grpc.SendGateStub) -> None:
    r = await stub.CanSend(
        pb.CanSendRequest(sender=acct("s"), recipient=acct("r"), message_id="ü-✓ id/42",
                          at_unix_ms=T0)
    )  # fmt: skip
    assert r.decision == pb.ALLOW


async def test_at_unix_ms_in_seconds(stub: pb_grpc.SendGateStub) -> None:
    await expect_exact(
        stub.GetUsage(pb.GetUsageRequest(account=acct("a"), at_unix_ms=SECONDS)),
        "at_unix_ms", f"{SECONDS} {LOOKS_LIKE_SECONDS}",
    )  # fmt: skip


async def test_at_unix_ms_in_seconds_inside_a_batch(stub: pb_grpc.SendGateStub) -> None:
    req = pb.CanSendRequest(sender=acct("s"), recipient=acct("r"), message_id="m",
                            at_unix_ms=SECONDS)  # fmt: skip
    await expect_exact(
        stub.CanSendBatch(pb.CanSendBatchRequest(requests=[req])),
        "requests[0].at_unix_ms", f"{SECONDS} {LOOKS_LIKE_SECONDS}",
    )  # fmt: skip


async def test_at_unix_ms_negative(stub: pb_grpc.SendGateStub) -> None:
    await expect_exact(
        stub.GetUsage(pb.GetUsageRequest(account=acct("a"), at_unix_ms=-1)),
        "at_unix_ms", "must not be negative",
    )  # fmt: skip


async def test_registered_at_in_seconds(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.UpsertAccount(pb.UpsertAccountRequest(account=acct("a"), kind=pb.PERSONAL,
                                                    registered_at=SECONDS, at_unix_ms=T0)),
        "registered_at", f"{SECONDS} {LOOKS_LIKE_SECONDS}",
    )  # fmt: skip


async def test_registered_at_negative(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.UpsertAccount(pb.UpsertAccountRequest(account=acct("a"), kind=pb.PERSONAL,
                                                    registered_at=-1, at_unix_ms=T0)),
        "registered_at", "must not be negative",
    )  # fmt: skip


async def test_registered_at_in_ms_and_unset_are_fine(admin: pb_grpc.SendGateAdminStub) -> None:
    for registered_at in (0, T0 - DAY):
        got = await admin.UpsertAccount(
            pb.UpsertAccountRequest(account=acct("a"), kind=pb.PERSONAL,
                                    registered_at=registered_at, at_unix_ms=T0)
        )  # fmt: skip
        assert got.account.registered_at == registered_at


def approve(expires_at: int, at_unix_ms: int = T0) -> pb.ReviewExceptionRequest:
    # Checked before the request is looked up, so any well-formed id will do.
    return pb.ReviewExceptionRequest(request_id="abc123", approve=True, extra_allowance=5,
                                     expires_at=expires_at, at_unix_ms=at_unix_ms)  # fmt: skip


async def test_expires_at_in_the_past(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.ReviewException(approve(T0 - 1)),
        "expires_at",
        f"{T0 - 1} is in the past (now is {T0})",
    )


async def test_expires_at_now_is_not_the_future(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.ReviewException(approve(T0)), "expires_at", f"{T0} is in the past (now is {T0})"
    )


async def test_expires_at_in_the_past_by_the_servers_clock(
    admin: pb_grpc.SendGateAdminStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await admin.ReviewException(approve(PAST_MS, at_unix_ms=0))  # now: this host's clock
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (info.value.details() or "").startswith(f"expires_at: {PAST_MS} is in the past (now is ")


async def test_expires_at_in_seconds(admin: pb_grpc.SendGateAdminStub) -> None:
    expires = SECONDS + 86_400
    await expect_exact(
        admin.ReviewException(approve(expires)),
        "expires_at", f"{expires} {LOOKS_LIKE_SECONDS}",
    )  # fmt: skip


async def test_expires_at_missing_on_approval(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.ReviewException(approve(0)),
        "expires_at", "must be set (Unix milliseconds, in the future)",
    )  # fmt: skip


async def test_list_exceptions_unknown_state(admin: pb_grpc.SendGateAdminStub) -> None:
    await expect_exact(
        admin.ListExceptions(pb.ListExceptionsRequest(state=99, at_unix_ms=T0)),  # type: ignore[arg-type]
        "state", "unknown or unspecified enum value 99",
    )  # fmt: skip


async def test_list_exceptions_without_state_lists_every_state(
    server_factory: ServerFactory, own_redis_url: str
) -> None:
    # A Redis of its own: the listing is capped, and the session's Redis holds many.
    server = await server_factory(redis_url=own_redis_url)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        sg, admin = pb_grpc.SendGateStub(ch), pb_grpc.SendGateAdminStub(ch)

        async def request(at: int) -> str:
            r = await sg.RequestException(pb.RequestExceptionRequest(
                account=acct("x"), reason=pb.INVITING_TO_LARGE_EVENT, at_unix_ms=at))  # fmt: skip
            return str(r.request_id)

        pending, approved, rejected, expired = [await request(T0 + i) for i in range(4)]
        for rid, ok, expires in ((approved, True, T0 + 3 * DAY), (rejected, False, 0),
                                 (expired, True, T0 + DAY)):  # fmt: skip
            await admin.ReviewException(pb.ReviewExceptionRequest(
                request_id=rid, approve=ok, extra_allowance=5 if ok else 0, expires_at=expires,
                at_unix_ms=T0 + 10))  # fmt: skip
        listed = await admin.ListExceptions(pb.ListExceptionsRequest(at_unix_ms=T0 + 2 * DAY))
    await server.stop(0)  # before its Redis goes
    assert [(x.request_id, x.state) for x in listed.exceptions] == [
        (pending, pb.PENDING), (approved, pb.APPROVED), (rejected, pb.REJECTED),
        (expired, pb.EXPIRED),
    ]  # fmt: skip
