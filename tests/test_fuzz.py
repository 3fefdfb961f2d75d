# mypy: disable-error-code="arg-type"
# (the fuzzer passes raw ints for enum fields on purpose)
"""Fuzzing every RPC's input: bad input is INVALID_ARGUMENT (or a normal answer), never
INTERNAL or UNKNOWN. Runs against a real `sendgate serve` process (derandomized)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

OK_CODES = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}
FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip

ids = st.one_of(
    st.text(max_size=140),
    st.sampled_from(["", "a", "{x}", "%7B", "a" * 129, "a\x00b", "é" * 64]),
)
i64 = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, -1, 1, 1773144000000]),
)
enum = st.integers(min_value=-5, max_value=10)
idents = st.lists(st.one_of(st.text(max_size=40), st.sampled_from(["device:1", "x:", ":y"])),
                  max_size=6)  # fmt: skip


@pytest.fixture(scope="module")
def stubs() -> Iterator[tuple[Any, Any]]:
    env = dict(os.environ, SENDGATE_BAN_EVASION__HMAC_KEY="fuzz")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendgate", "serve", "--grpc-address", "127.0.0.1:0",
         "--metrics-address", "127.0.0.1:0", "--allow-client-time"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
    )  # fmt: skip
    assert proc.stderr is not None
    target = ""
    for _ in range(200):
        line = proc.stderr.readline()
        if '"sendgate serving"' in line:
            target = json.loads(line)["grpc_address"]
            break
    assert target, "server did not start"
    channel = grpc.insecure_channel(target)
    try:
        yield pb_grpc.SendGateStub(channel), pb_grpc.SendGateAdminStub(channel)
    finally:
        channel.close()
        proc.terminate()
        proc.wait(20)
        proc.stderr.close()


def call(rpc: Callable[..., Any], request: Any) -> None:
    try:
        rpc(request, timeout=5)
    except grpc.RpcError as exc:
        assert exc.code() in OK_CODES, (exc.code(), exc.details(), request)


@pytest.mark.slow
@FUZZ
@given(s=ids, r=ids, m=ids, via=enum, dry=st.booleans(), at=i64)
def test_can_send(
    stubs: tuple[Any, Any], s: str, r: str, m: str, via: int, dry: bool, at: int
) -> None:
    req = pb.CanSendRequest(
        sender=s, recipient=r, message_id=m, via=via, dry_run=dry, at_unix_ms=at
    )
    call(stubs[0].CanSend, req)
    call(stubs[0].CanSendBatch, pb.CanSendBatchRequest(requests=[req, req]))


@pytest.mark.slow
@FUZZ
@given(a=ids, b=ids, kind=enum, flag=st.booleans(), at=i64, note=st.text(max_size=3000))
def test_other_send_gate_rpcs(
    stubs: tuple[Any, Any], a: str, b: str, kind: int, flag: bool, at: int, note: str
) -> None:
    sg = stubs[0]
    call(sg.RecordReply, pb.RecordReplyRequest(replier=a, replied_to=b, at_unix_ms=at))
    call(
        sg.RecordFeedback, pb.RecordFeedbackRequest(reporter=a, subject=b, kind=kind, at_unix_ms=at)
    )
    call(sg.RecordOptIn, pb.RecordOptInRequest(business=a, user=b, opted_in=flag, at_unix_ms=at))
    call(sg.GetUsage, pb.GetUsageRequest(account=a, at_unix_ms=at))
    call(
        sg.RequestException,
        pb.RequestExceptionRequest(account=a, reason=kind, note=note, at_unix_ms=at),
    )


@pytest.mark.slow
@FUZZ
@given(a=ids, kind=enum, flag=st.booleans(), at=i64, n=i64, identifiers=idents)
def test_admin_rpcs(
    stubs: tuple[Any, Any], a: str, kind: int, flag: bool, at: int, n: int, identifiers: list[str]
) -> None:
    sg, admin = stubs
    call(admin.UpsertAccount, pb.UpsertAccountRequest(account=a, kind=kind, business_verified=flag,
                                                      registered_at=n, at_unix_ms=at))  # fmt: skip
    call(admin.GetAccount, pb.GetAccountRequest(account=a, at_unix_ms=at))
    call(admin.EvaluateTier, pb.EvaluateTierRequest(account=a, at_unix_ms=at))
    call(admin.ReviewException, pb.ReviewExceptionRequest(request_id=a, approve=flag,
                                                          extra_allowance=n, expires_at=n,
                                                          at_unix_ms=at))  # fmt: skip
    call(admin.ListExceptions, pb.ListExceptionsRequest(state=kind, at_unix_ms=at))
    call(admin.BanAccount, pb.BanAccountRequest(account=a, reason="fuzz", identifiers=identifiers,
                                                at_unix_ms=at))  # fmt: skip
    call(admin.UnbanAccount, pb.UnbanAccountRequest(account=a, at_unix_ms=at))
    call(sg.CheckRegistration, pb.CheckRegistrationRequest(account=a, identifiers=identifiers,
                                                           at_unix_ms=at))  # fmt: skip
