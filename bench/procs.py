"""Processes the benchmark starts: gRPC servers, client loads, and what the machine is.

Every process is started here and stopped by its own PID (SIGTERM, then SIGKILL), and
every wait is bounded.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.driver import machine_cpu

ROOT = Path(__file__).resolve().parents[1]
BIG_LIMIT = "10000000"  # the largest monthly limit the config accepts: never binding


def child_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository root importable (for `bench.*`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


class ServerProcess:
    """A gRPC server child process, ready once its port accepts a channel."""

    def __init__(
        self, name: str, args: list[str], address: str, env: dict[str, str], health: bool = False
    ) -> None:
        self.name = name
        # The sidecar accepts channels before Redis is prepared: wait for SERVING too.
        self._health = health
        self.address = address
        self._args = args
        self._env = env
        # Closed in stop(): the server writes its stderr here for the whole run.
        self._log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-")  # noqa: SIM115
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout_s: float = 30.0) -> None:
        self._proc = subprocess.Popen(
            self._args,
            cwd=ROOT,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + timeout_s
        with grpc.insecure_channel(self.address) as channel:
            ready = grpc.channel_ready_future(channel)
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start: {self.log_tail()}")
                try:
                    ready.result(timeout=0.2)
                except grpc.FutureTimeoutError:
                    continue
                if not self._health or _serving(channel):
                    return
                time.sleep(0.1)
        tail = self.log_tail()  # read before stop() closes (and deletes) the log
        self.stop()
        raise RuntimeError(f"{self.name} not ready within {timeout_s}s: {tail}")

    def log_tail(self, chars: int = 2000) -> str:
        return Path(self._log.name).read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM to this PID only: a graceful shutdown
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self._log.close()


def _serving(channel: grpc.Channel) -> bool:
    """The gRPC health check of the whole server answers SERVING."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
    except grpc.RpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _address(port_or_address: int | str) -> str:
    """A port on loopback, or an address as given (`unix:///PATH`)."""
    if isinstance(port_or_address, int):
        return f"127.0.0.1:{port_or_address}"
    return port_or_address


def sidecar(
    redis_url: str, port_or_address: int | str, *extra_args: str, **extra_env: str
) -> ServerProcess:
    """A real `sendgate serve` on loopback (or a unix socket), client time on, limits
    that never bind. Given a Redis URL it starts no child: its PID's CPU is all of it."""
    address = _address(port_or_address)
    args = [
        sys.executable, "-m", "sendgate", "serve",
        "--redis-url", redis_url,
        "--grpc-address", address,
        "--metrics-address", "127.0.0.1:0",
        "--allow-client-time",
        *extra_args,
    ]  # fmt: skip
    env = child_env(
        SENDGATE_LIMITS__PERSONAL_MONTHLY=BIG_LIMIT,
        # Businesses too, so the 100K business is held by its tier, not its monthly quota.
        SENDGATE_LIMITS__BUSINESS_MONTHLY=BIG_LIMIT,
        SENDGATE_LOG_LEVEL="ERROR",
        **extra_env,
    )
    return ServerProcess("sendgate", args, address, env, health=True)


def ceiling_server(*addresses: int | str) -> ServerProcess:
    """The empty handler, listening on every address (its readiness probe: the first)."""
    listen = [_address(a) for a in addresses]
    args = [sys.executable, "-m", "bench.ceiling_server"]
    for address in listen:
        args += ["--address", address]
    return ServerProcess("grpc-ceiling", args, listen[0], child_env())


def peer_server(redis_port: int, port: int, limit: str) -> ServerProcess:
    """`limits` behind a grpc.aio CanSend (bench/peer_server.py) on the bench's Redis."""
    address = _address(port)
    args = [
        sys.executable, "-m", "bench.peer_server", "--address", address,
        "--redis-url", f"async+redis://127.0.0.1:{redis_port}", "--limit", limit,
    ]  # fmt: skip
    return ServerProcess("limits-peer", args, address, child_env())


def run_client(module: str, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run `python -m module SPEC` as its own process; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", module, json.dumps(spec)],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,  # on expiry subprocess kills this child (by its PID)
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} exited {proc.returncode}: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or out.stderr.strip() or "unknown"


def busy_before(seconds: float = 1.0) -> float | None:
    """CPU the machine spends (% of one core) while the bench does nothing yet.

    Every phase shares the machine's cores with whatever else runs: a busy machine
    (a test suite, a second benchmark) skews every figure, so it is measured and shown.
    """
    start = machine_cpu()
    time.sleep(seconds)
    end = machine_cpu()
    if start is None or end is None:
        return None
    return round(100 * (end[0] - start[0]) / seconds, 1)


def wait_quiet(limit_percent: float, max_wait_s: float) -> float | None:
    """Wait (bounded) until the machine is quiet; the last busy figure seen."""
    busy = busy_before()
    deadline = time.monotonic() + max_wait_s
    while busy is not None and busy > limit_percent and time.monotonic() < deadline:
        busy = busy_before()
    return busy


def source_version() -> str:
    """The commit measured, `+dirty` when client/ or server/ has uncommitted changes."""
    commit = _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "client", "server"],
        capture_output=True, text=True, timeout=10, check=False,
    ).stdout.strip()  # fmt: skip
    return commit + ("+dirty" if dirty else "")


def machine_info(redis_server: str) -> dict[str, Any]:
    nproc = _version(["nproc"])
    return {
        "nproc": int(nproc) if nproc.isdigit() else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "grpcio": grpc.__version__,
        "redis_server": _version([redis_server, "--version"]),
        "redis_benchmark": _version(["redis-benchmark", "--version"]),
        "platform": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "sendgate_commit": source_version(),
    }
