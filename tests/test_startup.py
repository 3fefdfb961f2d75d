"""Start-up: ports checked before anything starts, health while waiting for Redis, the
embedded default's ban-evasion key, and `sendgate serve`'s stderr staying JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sendgate import ban_key
from sendgate.config import load_settings
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.errors import StartupError
from sendgate.server import LIVENESS, SendGateServer
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.conftest import T0, ServerFactory, acct

SERVE = [sys.executable, "-m", "sendgate", "serve"]


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def serve_once(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENDGATE_")}
    return subprocess.run(
        [*SERVE, *args], capture_output=True, text=True, timeout=60, check=False,
        env=dict(clean, **env),
    )  # fmt: skip


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as JSON (fails on any other line, such as gRPC core's)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


# ------------------------------------------------------------ ports


@pytest.mark.slow
def test_taken_grpc_port_fails_at_once_with_one_json_line(taken: int) -> None:
    out = serve_once("--grpc-address", f"127.0.0.1:{taken}", "--metrics-address", "127.0.0.1:0")
    assert out.returncode == 1
    records = json_lines(out.stderr)
    errors = [r for r in records if r["level"] == "error"]
    assert [r["msg"] for r in errors] == ["cannot start"]
    assert errors[0]["error"] == (
        f"cannot listen on 127.0.0.1:{taken} (grpc_address): "
        "address already in use (is another sendgate running?)"
    )
    # Nothing was started before the check: no embedded Redis, no servers.
    assert [r["msg"] for r in records] == ["cannot start"]


@pytest.mark.slow
def test_taken_metrics_port_names_its_address(taken: int) -> None:
    out = serve_once("--grpc-address", "127.0.0.1:0", "--metrics-address", f"127.0.0.1:{taken}")
    assert out.returncode == 1
    (record,) = json_lines(out.stderr)
    assert record["error"] == (
        f"cannot listen on 127.0.0.1:{taken} (metrics_address): "
        "address already in use (is another sendgate running?)"
    )


@pytest.mark.slow
def test_unknown_environment_variable_stops_serve() -> None:
    out = serve_once(SENDGATE_LIMITS_PERSONAL_MONTHLY="5")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "sendgate: invalid configuration: SENDGATE_LIMITS_PERSONAL_MONTHLY: unknown "
        "environment variable (not a setting; nested keys take two underscores: "
        "SENDGATE_LIMITS__PERSONAL_MONTHLY)"
    )


async def test_taken_port_starts_nothing(taken: int) -> None:
    settings = load_settings(None, grpc_address=f"127.0.0.1:{taken}")
    server = SendGateServer(settings)
    with pytest.raises(StartupError) as info:
        await server.start()
    assert str(info.value).startswith(f"cannot listen on 127.0.0.1:{taken} (grpc_address): ")
    assert server.embedded is None and server.store is None


async def test_same_port_for_both_listeners_is_refused() -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = SendGateServer(load_settings(None, grpc_address=address, metrics_address=address))
    with pytest.raises(StartupError) as info:
        await server.start()
    assert str(info.value) == (
        f"cannot listen on {address} (metrics_address): same port as grpc_address"
    )


# ------------------------------------------------------------ waiting for Redis


async def health(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int((await stub.Check(health_pb2.HealthCheckRequest(service=service))).status)


async def test_probes_answer_while_waiting_for_redis() -> None:
    port = free_port()
    settings = load_settings(
        None, redis_url=f"redis://127.0.0.1:{port}/0", grpc_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0", shutdown_grace_seconds=0,
        redis={"startup_wait_ms": 600_000, "connect_timeout_ms": 200},
    )  # fmt: skip
    server = SendGateServer(settings)
    starting = asyncio.create_task(server.start())
    proc: RedisProcess | None = None
    try:
        async with asyncio.timeout(30):
            await server.listening.wait()
        assert not starting.done()  # still waiting for Redis, yet the probes answer
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
            assert await health(ch, "") == health_pb2.HealthCheckResponse.NOT_SERVING
            assert await health(ch, LIVENESS) == health_pb2.HealthCheckResponse.SERVING
            m = server.metrics_port
            assert await asyncio.to_thread(http_status, m, "/healthz") == 503
            assert await asyncio.to_thread(http_status, m, "/readyz") == 503
            assert await asyncio.to_thread(http_status, m, "/livez") == 200
            proc = RedisProcess(port=port)
            await asyncio.to_thread(proc.start)
            async with asyncio.timeout(30):
                await starting
            assert await health(ch, "") == health_pb2.HealthCheckResponse.SERVING
            assert await asyncio.to_thread(http_status, m, "/healthz") == 200
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await server.stop(0)
        if proc is not None:
            proc.close()


async def test_serving_line_says_degraded(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sendgate.server"):
        await server_factory(
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            redis={"startup_wait_ms": 0, "connect_timeout_ms": 200},
        )
    (line,) = [r for r in caplog.records if r.getMessage() == "sendgate serving"]
    assert (line.levelname, line.degraded) == ("WARNING", True)  # type: ignore[attr-defined]


async def test_serving_line_says_not_degraded(
    server_factory: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sendgate.server"):
        await server_factory()
    (line,) = [r for r in caplog.records if r.getMessage() == "sendgate serving"]
    assert (line.levelname, line.degraded) == ("INFO", False)  # type: ignore[attr-defined]


# ------------------------------------------------------------ ban-evasion key


def read_json_until(stream: IO[str], msg: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON log lines into `seen` until one says `msg` (bounded by the process: EOF ends it)."""
    for _ in range(1000):
        line = stream.readline()
        if not line:
            break
        seen.append(json.loads(line))  # every line is JSON
        if seen[-1]["msg"] == msg:
            return seen[-1]
    raise AssertionError(f"no {msg!r} line in {seen}")


@pytest.mark.slow
def test_embedded_default_generates_a_key_and_bans_with_identifiers() -> None:
    """The one-command default (`sendgate serve`, embedded Redis, no key): bans keep
    identifiers, and the log says the key was generated."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENDGATE_")}
    proc = subprocess.Popen(
        [*SERVE, "--grpc-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0",
         "--allow-client-time"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=clean,
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        seen: list[dict[str, Any]] = []
        target = read_json_until(proc.stderr, "sendgate serving", seen)["grpc_address"]
        (warning,) = [r for r in seen if r["logger"] == "sendgate.ban_key"]
        assert warning["level"] == "warning"
        assert warning["msg"].startswith("ban_evasion.hmac_key not set: using a generated key")
        with grpc.insecure_channel(target) as ch:
            admin, sg = pb_grpc.SendGateAdminStub(ch), pb_grpc.SendGateStub(ch)
            banned, again = acct("banned"), acct("again")
            admin.BanAccount(
                pb.BanAccountRequest(
                    account=banned, reason="spam", identifiers=["device:d1"], at_unix_ms=T0
                ),
                timeout=10,
            )
            check = sg.CheckRegistration(
                pb.CheckRegistrationRequest(
                    account=again, identifiers=["device:d1"], at_unix_ms=T0
                ),
                timeout=10,
            )
        assert (check.decision, list(check.matched_banned_accounts)) == (pb.DENY, [banned])
        proc.terminate()
        assert proc.wait(20) == 0
        json_lines(proc.stderr.read())  # to the end, still only JSON
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()


async def test_external_redis_without_key_still_refuses_identifiers(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as ch:
        admin = pb_grpc.SendGateAdminStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await admin.BanAccount(
                pb.BanAccountRequest(account=acct("b"), reason="x", identifiers=["device:d"])
            )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == "identifiers need ban_evasion.hmac_key (never stored in clear)"


def test_configured_key_wins_and_external_has_none(tmp_path: Path) -> None:
    assert ban_key.resolve("k", embedded=True, data_dir=str(tmp_path)) == b"k"
    assert ban_key.resolve("", embedded=False, data_dir="") == b""
    assert not (tmp_path / ban_key.KEY_FILE).exists()


def test_embedded_keys_are_random_without_a_data_dir() -> None:
    a = ban_key.resolve("", embedded=True, data_dir="")
    b = ban_key.resolve("", embedded=True, data_dir="")
    assert len(a) == 64 and a != b


def test_kept_embedded_data_keeps_its_key(tmp_path: Path) -> None:
    first = ban_key.resolve("", embedded=True, data_dir=str(tmp_path))
    assert ban_key.resolve("", embedded=True, data_dir=str(tmp_path)) == first
    mode = stat.S_IMODE((tmp_path / ban_key.KEY_FILE).stat().st_mode)
    assert mode == 0o600  # a secret: owner only
