"""Bad input is INVALID_ARGUMENT naming the field, and nothing is recorded."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from sendgate.server import SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import T0, ServerFactory, acct


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
