"""The `sendgate` client commands as a person runs them, against real sidecars."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sendgate.client import AsyncAdminClient
from sendgate.embedded_redis import free_port
from sendgate.server import SendGateServer
from tests.conftest import ServerFactory, acct
from tests.test_tls import make_pki

CLI = [sys.executable, "-m", "sendgate"]
TOKEN, ADMIN_TOKEN = "cli-chat-token", "cli-admin-token"


def sendgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, **env),
    )  # fmt: skip


async def asendgate(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread, so the in-process sidecar keeps answering."""
    return await asyncio.to_thread(sendgate, *args, **env)


@pytest.fixture(scope="module")
async def tokened(server_factory: ServerFactory) -> SendGateServer:
    return await server_factory(
        limits={"personal_monthly": 2, "warn_ratio": 0.5},
        bulk={"enabled": False},
        auth={"sendgate_token": TOKEN, "admin_token": ADMIN_TOKEN},
        ban_evasion={"hmac_key": "cli-test-key"},
    )


def target(server: SendGateServer) -> str:
    return f"127.0.0.1:{server.grpc_port}"


def test_version() -> None:
    out = sendgate("--version")
    assert out.returncode == 0 and out.stdout.startswith("sendgate 0.")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["usage", "a", "--bogus"], "sendgate usage: error: unrecognized arguments: --bogus"),
        (["usage", "a", "--timeout", "0"], "must be a positive number of seconds"),
        (["usage", "a", "--timeout", "soon"], "not a number"),
        (["check", "a", "b", "--message-id", ""], "--message-id: must not be empty"),
        (["events", "--count", "-1"], "must not be negative"),
    ],
)
def test_bad_arguments_print_the_subcommands_usage(args: list[str], expected: str) -> None:
    out = sendgate(*args)
    assert out.returncode == 2
    assert f"usage: sendgate {args[0]}" in out.stderr and expected in out.stderr


async def test_token_from_flag_or_environment(tokened: SendGateServer) -> None:
    account = acct()
    missing = await asendgate("usage", account, "--target", target(tokened))
    assert missing.returncode == 1 and "UNAUTHENTICATED" in missing.stderr
    assert "Traceback" not in missing.stderr
    flag = await asendgate("usage", account, "--target", target(tokened), "--token", TOKEN)
    assert flag.returncode == 0 and "used 0 of 2" in flag.stdout
    env = await asendgate("usage", account, "--target", target(tokened), SENDGATE_TOKEN=TOKEN)
    assert env.returncode == 0, env.stderr


async def test_check_text_and_json(tokened: SendGateServer) -> None:
    s, t = acct("s"), ["--target", target(tokened)]
    env = {"SENDGATE_TOKEN": TOKEN}
    dry = await asendgate("check", s, acct("r"), "--dry-run", *t, **env)
    assert dry.stdout.splitlines()[0] == "ALLOW, would count", dry.stdout
    assert "REASON_UNSPECIFIED" not in dry.stdout and "business" not in dry.stdout
    first = await asendgate("check", s, acct("r"), "--message-id", "m1", *t, **env)
    assert first.stdout.splitlines()[0] == "ALLOW, counted, warning APPROACHING"
    again = await asendgate("check", s, acct("r"), "--message-id", "m1", *t, **env)
    assert "duplicate" in again.stdout.splitlines()[0]
    await asendgate("check", s, acct("r"), *t, **env)
    denied = await asendgate("check", s, acct("r"), *t, **env)
    line = denied.stdout.splitlines()[0]
    assert line.startswith("DENY, MONTHLY_UNREPLIED_LIMIT, not counted")
    assert "retry after " in line and "retry_after_ms" not in line
    as_json = json.loads((await asendgate("check", s, acct("r"), "--json", *t, **env)).stdout)
    assert as_json["reason"] == "MONTHLY_UNREPLIED_LIMIT"
    assert isinstance(as_json["retry_after_ms"], int)
    assert isinstance(as_json["usage"]["resets_at"], int)
    usage = json.loads((await asendgate("usage", s, "--json", *t, **env)).stdout)
    assert usage["used"] == 2 and isinstance(usage["resets_at"], int)


async def test_degraded_answer_says_so(server_factory: ServerFactory) -> None:
    # Redis is not there: the sidecar serves and decides by its failure policy.
    server = await server_factory(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", redis={"startup_wait_ms": 0}
    )
    out = await asendgate("check", "a", "b", "--target", target(server))
    assert out.returncode == 0, out.stderr
    assert "degraded" in out.stdout.splitlines()[0]


@pytest.mark.slow
async def test_tls_options(server_factory: ServerFactory, tmp_path: Path) -> None:
    make_pki(tmp_path)
    server = await server_factory(
        auth={"sendgate_token": TOKEN},
        tls={"cert_file": str(tmp_path / "server.pem"), "key_file": str(tmp_path / "server.key")},
    )
    out = await asendgate(
        "usage", acct(), "--target", f"localhost:{server.grpc_port}", "--ca",
        str(tmp_path / "ca.pem"), "--token", TOKEN,
    )  # fmt: skip
    assert out.returncode == 0 and "used 0 of" in out.stdout, out.stderr


async def ban(server: SendGateServer, account: str) -> None:
    async with AsyncAdminClient(target(server), token=ADMIN_TOKEN, timeout=10) as admin:
        await admin.ban_account(account, "cli test")


async def test_events_through_the_admin_api(tokened: SendGateServer) -> None:
    banned = acct("banned")
    await ban(tokened, banned)
    t, env = ["--target", target(tokened)], {"SENDGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    text = await asendgate("events", "--kind", "account_banned", "--count", "1", *t, **env)
    assert text.returncode == 0, text.stderr
    [line] = text.stdout.splitlines()
    assert "account_banned" in line and banned in line and "reason=cli test" in line
    as_json = await asendgate("events", "--kind", "account_banned", "--json", *t, **env)
    last = json.loads(as_json.stdout.splitlines()[-1])
    assert last["account"] == banned and isinstance(last["at_unix_ms"], int)
    chat_token = await asendgate("events", *t, SENDGATE_ADMIN_TOKEN=TOKEN)
    assert chat_token.returncode == 1 and "PERMISSION_DENIED" in chat_token.stderr


def follow(server: SendGateServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "events", "--target", target(server), "--kind", "account_banned", "--follow",
         "--count", "1", "--poll-interval", "0.05", "--max-polls", "1200", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, SENDGATE_ADMIN_TOKEN=ADMIN_TOKEN),
    )  # fmt: skip


async def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        code = await asyncio.to_thread(proc.wait, 60)
        assert proc.stderr is not None
        return code, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


async def test_events_follow(tokened: SendGateServer) -> None:
    await ban(tokened, acct("before"))
    proc = follow(tokened, "--json")
    assert proc.stdout is not None
    first: dict[str, Any] = json.loads(await asyncio.to_thread(proc.stdout.readline))
    assert first["kind"] == "account_banned"
    later = acct("later")
    await ban(tokened, later)
    followed = json.loads(await asyncio.to_thread(proc.stdout.readline))
    assert followed["account"] == later
    proc.terminate()
    await finish(proc)


async def test_events_into_a_closed_pipe(tokened: SendGateServer) -> None:
    """`sendgate events -f | head -1`: the reader leaves; no traceback."""
    await ban(tokened, acct("before"))
    proc = follow(tokened)
    assert proc.stdout is not None
    await asyncio.to_thread(proc.stdout.readline)
    proc.stdout.close()
    await ban(tokened, acct("after"))  # the next line meets the closed pipe
    code, stderr = await finish(proc)
    assert code == 1 and "Traceback" not in stderr and "BrokenPipe" not in stderr
