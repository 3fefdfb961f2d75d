"""The `sendgate` client and admin commands as a person runs them, against real sidecars."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sendgate.client import AsyncAdminClient, AsyncSendGateClient
from sendgate.console.timefmt import parse_expiry
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


# ---------------------------------------------------------------- sendgate admin


def _admin(server: SendGateServer, *args: str) -> list[str]:
    return ["admin", *args, "--target", target(server), "--reviewer", "rita"]


async def test_review_an_exception_from_the_terminal(tokened: SendGateServer) -> None:
    account = acct("cli-x")
    async with AsyncSendGateClient(target(tokened), token=TOKEN) as sg:
        asked = await sg.request_exception(account, "INVITING_TO_LARGE_EVENT", note="gala")
    env = {"SENDGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    pending = await asendgate(*_admin(tokened, "exceptions", "--state", "PENDING"), **env)
    assert pending.returncode == 0, pending.stderr
    assert asked.request_id in pending.stdout and "gala" in pending.stdout
    bad = await asendgate(*_admin(tokened, "review", asked.request_id, "--approve"), **env)
    assert bad.returncode == 2 and "--expires" in bad.stderr  # an approval needs an expiry
    ok = await asendgate(
        *_admin(tokened, "review", asked.request_id, "--approve", "--allowance", "10",
                "--expires", "7d", "--json"),
        **env,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    reviewed = json.loads(ok.stdout)
    assert reviewed["state"] == "APPROVED" and reviewed["extra_allowance"] == 10
    assert isinstance(reviewed["expires_at"], int) and reviewed["expires_at"] > 1_700_000_000_000
    shown = await asendgate(*_admin(tokened, "account", account), **env)
    assert shown.returncode == 0, shown.stderr
    assert "used 0 of 12" in shown.stdout  # personal_monthly 2 + the allowance


async def test_ban_check_registration_and_unban(tokened: SendGateServer) -> None:
    env = {"SENDGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    spammer, again = acct("cli-ban"), acct("cli-again")
    banned = await asendgate(
        *_admin(tokened, "ban", spammer, "--reason", "bulk, report 17",
                "--identifier", "device:cli-dev-1"),
        **env,
    )  # fmt: skip
    assert banned.returncode == 0 and f"banned {spammer}" in banned.stdout, banned.stderr
    shown = await asendgate(*_admin(tokened, "account", spammer, "--json"), **env)
    assert json.loads(shown.stdout.splitlines()[0])["banned"] is True
    check = await asendgate(
        *_admin(tokened, "check-registration", again, "--identifier", "device:cli-dev-1"),
        SENDGATE_TOKEN=TOKEN,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("DENY") and spammer in check.stdout
    lifted = await asendgate(*_admin(tokened, "unban", spammer), **env)
    assert lifted.returncode == 0 and f"unbanned {spammer}" in lifted.stdout


async def test_upsert_and_evaluate_tier(tokened: SendGateServer) -> None:
    env = {"SENDGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    shop = acct("cli-shop")
    made = await asendgate(
        *_admin(tokened, "upsert", shop, "--kind", "BUSINESS", "--business-verified",
                "--registered", "2025-01-31"),
        **env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"{shop}: BUSINESS" in made.stdout and "registered 2025-01-31" in made.stdout
    tier = await asendgate(*_admin(tokened, "evaluate-tier", shop), **env)
    assert tier.returncode == 0 and "tier index 0 (limit 250)" in tier.stdout, tier.stderr


async def test_admin_needs_the_admin_token(tokened: SendGateServer) -> None:
    out = await asendgate(*_admin(tokened, "exceptions"), SENDGATE_ADMIN_TOKEN=TOKEN)
    assert out.returncode == 1 and "PERMISSION_DENIED" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [("7d", 7 * 86_400_000), ("12h", 12 * 3_600_000), ("2w", 14 * 86_400_000)],
)
def test_durations_as_people_write_them(text: str, expected: int) -> None:
    assert parse_expiry(text, 1_000) == 1_000 + expected
    assert parse_expiry("2026-07-01", 0) == 1_782_864_000_000


async def test_linked_accounts_review_and_forget_from_the_terminal(
    tokened: SendGateServer,
) -> None:
    env = {"SENDGATE_ADMIN_TOKEN": ADMIN_TOKEN}
    owner, second = acct("cli-own"), acct("cli-dup")
    for account in (owner, second):
        reg = await asendgate(
            *_admin(tokened, "check-registration", account, "--identifier", "device:cli-shared"),
            SENDGATE_TOKEN=TOKEN,
        )
        assert reg.returncode == 0 and reg.stdout.startswith("ALLOW"), reg.stderr
    banned = await asendgate(*_admin(tokened, "ban", owner, "--reason", "spam ring"), **env)
    assert banned.returncode == 0, banned.stderr
    linked = await asendgate(*_admin(tokened, "linked", second), **env)
    assert linked.returncode == 0, linked.stderr
    assert owner in linked.stdout and "device" in linked.stdout and "BANNED" in linked.stdout
    shown = await asendgate(*_admin(tokened, "account", second), **env)
    assert "LINKED_TO_BANNED" in shown.stdout and owner in shown.stdout
    cleared = await asendgate(*_admin(tokened, "clear-review", second), **env)
    assert cleared.returncode == 0 and "review cleared" in cleared.stdout, cleared.stderr
    forgot = await asendgate(*_admin(tokened, "forget", second, "--json"), **env)
    assert forgot.returncode == 0 and json.loads(forgot.stdout) == {"forgotten": second}
    # Every admin action names who did it (the --reviewer flag here).
    events = await asendgate(
        "events", "--target", target(tokened), "--json", "--count", "1000",
        "--kind", "account_banned", **env,
    )  # fmt: skip
    mine = [json.loads(x) for x in events.stdout.splitlines()]
    mine = [e for e in mine if e["account"] == owner]
    assert mine and mine[0]["attributes"]["reviewer"] == "rita"
