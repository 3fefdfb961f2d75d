"""Operations: /metrics scraped over HTTP, health, reflection, shadow mode, key layout."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from sendgate.keys import account_base
from sendgate.server import LIVENESS, SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import T0, Backend, ServerFactory, acct


def scrape(port: int, path: str = "/metrics") -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return resp.status, resp.read().decode()


async def test_metrics_are_scraped_and_parse(
    limit5: SendGateServer, stub: pb_grpc.SendGateStub
) -> None:
    s = acct("secret-account")
    for i in range(6):
        await stub.CanSend(
            pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=f"m{i}", at_unix_ms=T0)
        )
    with contextlib.suppress(grpc.aio.AioRpcError):
        await stub.GetUsage(pb.GetUsageRequest(account=""))
    status, text = await asyncio.to_thread(scrape, limit5.metrics_port)
    assert status == 200
    assert s not in text  # never an account id in a label
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for f in families.values()
        for x in f.samples
    }
    deny = (("decision", "deny"), ("reason", "monthly_unreplied_limit"))
    assert samples[("sendgate_decisions_total", deny)] >= 1
    assert samples[("sendgate_limit_hits_total", (("limit", "monthly_unreplied"),))] >= 1
    assert ("sendgate_flags_raised_total", (("flag", "bulk_suspected"),)) in samples
    assert ("sendgate_degraded_decisions_total", (("mode", "fail_open"),)) in samples
    assert "sendgate_redis_errors" in families
    assert samples[("sendgate_redis_call_seconds_count", ())] >= 6
    method = (("grpc_method", "CanSend"), ("grpc_service", "sendgate.v1.SendGate"),
              ("grpc_type", "unary"))  # fmt: skip
    assert samples[("grpc_server_started_total", method)] >= 6
    assert samples[("grpc_server_handled_total", (("grpc_code", "OK"), *method))] >= 6
    bad = (("grpc_code", "INVALID_ARGUMENT"), ("grpc_method", "GetUsage"),
           ("grpc_service", "sendgate.v1.SendGate"), ("grpc_type", "unary"))  # fmt: skip
    assert samples[("grpc_server_handled_total", bad)] >= 1
    buckets = [
        x.labels["le"] for x in families["grpc_server_handling_seconds"].samples
        if x.name.endswith("_bucket") and x.labels["grpc_method"] == "CanSend"
    ]  # fmt: skip
    assert "0.0001" in buckets and "0.0005" in buckets  # sub-millisecond resolution


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for f in text_string_to_metric_families(text)
        for x in f.samples
    }


async def test_stream_rpcs_have_grpc_server_series(
    limit5: SendGateServer, stub: pb_grpc.SendGateStub
) -> None:
    method = (("grpc_method", "CanSendStream"), ("grpc_service", "sendgate.v1.SendGate"),
              ("grpc_type", "bidi_stream"))  # fmt: skip
    _, before_text = await asyncio.to_thread(scrape, limit5.metrics_port)
    before = _samples(before_text)
    s = acct("streamer")
    reqs = [
        pb.CanSendRequest(sender=s, recipient=acct("r"), message_id=f"m{i}", at_unix_ms=T0)
        for i in range(3)
    ]
    answers = [r async for r in stub.CanSendStream(iter(reqs))]
    assert len(answers) == 3
    _, text = await asyncio.to_thread(scrape, limit5.metrics_port)
    after = _samples(text)

    def grew(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert grew("grpc_server_started_total", method) == 1
    assert grew("grpc_server_handled_total", (("grpc_code", "OK"), *method)) == 1
    assert grew("grpc_server_msg_received_total", method) == 3
    assert grew("grpc_server_msg_sent_total", method) == 3
    assert grew("grpc_server_handling_seconds_count", method) == 1


async def test_http_health_endpoints(limit5: SendGateServer) -> None:
    assert (await asyncio.to_thread(scrape, limit5.metrics_port, "/healthz"))[0] == 200
    assert (await asyncio.to_thread(scrape, limit5.metrics_port, "/livez"))[0] == 200


async def test_grpc_health_and_reflection(limit5: SendGateServer) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{limit5.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "sendgate.v1.SendGate", LIVENESS):
            resp = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = refl.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        answer = await call.read()
        await call.done_writing()
        names = {s.name for s in answer.list_services_response.service}
        assert {
            "sendgate.v1.SendGate",
            "sendgate.v1.SendGateAdmin",
            "grpc.health.v1.Health",
        } <= names


async def test_shadow_mode_reports_but_allows(
    server_factory: ServerFactory, stub_factory: object
) -> None:
    server = await server_factory(enforce=False, limits={"personal_monthly": 1})
    stub = stub_factory(server)  # type: ignore[operator]
    s = acct("s")
    first = await stub.CanSend(
        pb.CanSendRequest(sender=s, recipient="r1", message_id="1", at_unix_ms=T0)
    )
    over = await stub.CanSend(
        pb.CanSendRequest(sender=s, recipient="r2", message_id="2", at_unix_ms=T0)
    )
    assert first.counted
    assert (over.decision, over.reason, over.counted) == (
        pb.ALLOW,
        pb.MONTHLY_UNREPLIED_LIMIT,
        False,
    )
    hits = server.metrics.limit_hits.labels("monthly_unreplied")._value.get()
    assert hits == 1
    # The message went through, so r2 may answer for free.
    back = await stub.CanSend(
        pb.CanSendRequest(sender="r2", recipient=s, message_id="3", at_unix_ms=T0)
    )
    assert not back.counted


@pytest_asyncio.fixture(scope="module")
async def inspected(
    server_factory: ServerFactory, backend: Backend
) -> AsyncIterator[pb_grpc.SendGateStub]:
    """A server on standalone Redis, then on the cluster; tests inspect it directly."""
    server = await server_factory(redis_url=backend.url, bulk={"enabled": False})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        yield pb_grpc.SendGateStub(ch)


async def test_every_key_of_an_account_shares_its_hash_tag(
    inspected: pb_grpc.SendGateStub, backend: Backend
) -> None:
    redis_sync = backend.inspect
    stub = inspected
    s, r = "tag{odd}" + acct("s"), acct("r")
    await stub.CanSend(pb.CanSendRequest(sender=s, recipient=r, message_id="k1", at_unix_ms=T0))
    await stub.RecordReply(pb.RecordReplyRequest(replier=acct("x"), replied_to=s, at_unix_ms=T0))
    base = account_base(s)
    unique = s[len("tag{odd}") :]
    keys = await asyncio.to_thread(lambda: list(redis_sync.scan_iter(match=f"*{unique}*")))
    assert keys, "the account has keys"
    assert all(k.decode().startswith(base) for k in keys)
    # The braces inside the id are escaped, so the tag is the whole (escaped) id.
    tag = base[base.index("{") + 1 : base.index("}")]
    assert tag == "tag%7Bodd%7D" + s[len("tag{odd}") :]


async def test_records_expire(inspected: pb_grpc.SendGateStub, backend: Backend) -> None:
    redis_sync = backend.inspect
    stub = inspected
    s = acct("ttl")
    await stub.CanSend(pb.CanSendRequest(sender=s, recipient="r", message_id="t", at_unix_ms=T0))
    keys = await asyncio.to_thread(lambda: list(redis_sync.scan_iter(match=f"*{s}*")))
    assert keys
    for k in keys:
        assert redis_sync.pttl(k) > 0, k  # nothing lives forever
