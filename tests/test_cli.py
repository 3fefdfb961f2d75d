"""The real `sendgate serve` process: embedded Redis, terminal client, signals, exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest

from sendgate.client import SendGateClient
from sendgate.embedded_redis import RedisProcess, free_port

SERVE = [sys.executable, "-m", "sendgate", "serve"]


def read_until(stream: IO[str], msg: str, timeout_s: float = 20.0) -> dict[str, Any]:
    """Read JSON log lines until one has `msg` (bounded in time)."""
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("msg") == msg:
            return record  # type: ignore[no-any-return]
    raise AssertionError(f"no {msg!r} log line; saw: {''.join(seen)[-2000:]}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def serving(*args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """A real `sendgate serve` on free loopback ports (plus `args`); killed if still
    running afterwards."""
    proc = subprocess.Popen(
        [*SERVE, "--grpc-address", "127.0.0.1:0", "--metrics-address", "127.0.0.1:0", *args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env=dict(os.environ, **env),
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.fixture
def serve() -> Iterator[subprocess.Popen[str]]:
    with serving(SENDGATE_LIMITS__PERSONAL_MONTHLY="3") as proc:
        yield proc


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_with_embedded_redis_then_graceful_exit(
    serve: subprocess.Popen[str], sig: signal.Signals
) -> None:
    assert serve.stderr is not None
    embedded = read_until(serve.stderr, "embedded redis started")
    serving = read_until(serve.stderr, "sendgate serving")
    target = serving["grpc_address"]
    with SendGateClient(target, timeout=5) as sg:
        for i in range(3):
            assert sg.can_send("alice", f"bob{i}", f"m{i}").allowed
        denied = sg.can_send("alice", "carol", "m9")
        assert (denied.decision, denied.reason) == ("DENY", "MONTHLY_UNREPLIED_LIMIT")
    out = subprocess.run(
        [sys.executable, "-m", "sendgate", "usage", "alice", "--target", target],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert "used 3 of 3 (0 left)" in out.stdout
    as_json = subprocess.run(
        [sys.executable, "-m", "sendgate", "usage", "alice", "--target", target, "--json"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(as_json.stdout)["used"] == 3

    serve.send_signal(sig)
    assert serve.wait(20) == 0
    read_until(serve.stderr, "sendgate stopped")
    assert not alive(embedded["pid"])  # the embedded redis-server went with it


@pytest.mark.slow
def test_invalid_configuration_names_the_key() -> None:
    env = dict(os.environ, SENDGATE_LIMITS__WARN_RATIO="5")
    out = subprocess.run(SERVE, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert out.returncode == 2
    assert "limits.warn_ratio" in out.stderr


def serve_against(
    port: int, startup_wait_ms: int
) -> contextlib.AbstractContextManager[subprocess.Popen[str]]:
    """`sendgate serve` against a Redis URL on `port` (nothing there yet)."""
    return serving(
        "--redis-url",
        f"redis://127.0.0.1:{port}/0",
        SENDGATE_REDIS__STARTUP_WAIT_MS=str(startup_wait_ms),
    )


@pytest.mark.slow
def test_evicting_redis_after_a_degraded_start_exits_1() -> None:
    """Redis down at start: serve degraded; when it comes up unusable, exit 1."""
    port = free_port()
    redis_proc = RedisProcess(port=port, extra_args=("--maxmemory-policy", "allkeys-lru"))
    with serve_against(port, startup_wait_ms=0) as proc:
        assert proc.stderr is not None
        try:
            read_until(proc.stderr, "sendgate serving")
            redis_proc.start()
            assert proc.wait(30) == 1
            assert "maxmemory-policy" in proc.stderr.read()
        finally:
            redis_proc.close()


@pytest.mark.slow
def test_sigterm_while_waiting_for_redis_stops_cleanly() -> None:
    with serve_against(free_port(), startup_wait_ms=60_000) as proc:
        assert proc.stderr is not None
        read_until(proc.stderr, "waiting for redis")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


@pytest.mark.slow
def test_cannot_start_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            [*SERVE, "--grpc-address", f"127.0.0.1:{port}", "--metrics-address", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert out.returncode == 1
    assert "cannot start" in out.stderr


@pytest.mark.slow
def test_usage_against_nothing_fails_cleanly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = subprocess.run(
        [sys.executable, "-m", "sendgate", "usage", "x", "--target", f"127.0.0.1:{port}",
         "--timeout", "0.5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert "UNAVAILABLE" in out.stderr or "DEADLINE" in out.stderr


def test_functions_prune_keeps_a_library_in_use(redis_proc: RedisProcess) -> None:
    """`sendgate functions prune` against a Redis whose only sendgate library has a
    live heartbeat deletes nothing and says so by printing nothing."""
    import redis as redis_sync  # noqa: PLC0415

    from sendgate.config import load_settings  # noqa: PLC0415
    from sendgate.store.library import build  # noqa: PLC0415

    lib = build(load_settings())
    r = redis_sync.Redis.from_url(redis_proc.url)
    try:
        r.function_load(lib.source, replace=True)
        r.set(f"sendgate:fnlib:{lib.name}", "1", ex=3600)
        out = subprocess.run(
            [sys.executable, "-m", "sendgate", "functions", "prune", "--redis-url", redis_proc.url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert lib.name not in out.stdout
        listed = r.function_list(library=lib.name)
        assert len(listed) == 1  # still loaded
    finally:
        r.close()


def test_console_subcommand_is_there() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sendgate", "console", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0 and "--target" in out.stdout
