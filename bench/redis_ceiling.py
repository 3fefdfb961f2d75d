"""The Redis ceiling: `redis-benchmark` running the real can_send function with FCALL.

The arguments come from `message_args`, the function the sidecar itself uses, and the
library from `sendgate.store.library.build`, so the call stays right when the layout
changes. The recipient is a `__rand_int__` placeholder (replaced on every call). The
message key is a fixed ID_LEN-byte value (redis-benchmark's placeholder expands to 12
digits, and the key is binary), so the sender draws from `SENDERS` accounts instead:
most calls are a sender's first message of the run, a few (about a tenth) replays.
Per-branch figures come from bench/branches.py. Skipped, never failed, when
redis-benchmark is missing.
"""

from __future__ import annotations

import csv
import functools
import io
import resource
import shutil
import subprocess
import time
from typing import Any

import redis

from bench.driver import add_others, cpu_seconds, machine_cpu
from bench.redis_stats import with_script_cost
from sendgate import keys
from sendgate.config import LimitsSettings, Settings
from sendgate.domain import SendRequest
from sendgate.store.library import ID_LEN, FunctionLibrary, build
from sendgate.store.redis_store import message_args

RAND = "__rand_int__"
SENDERS = 1_000_000  # -r: each placeholder draws from 0..SENDERS-1
CLIENTS = 64  # as many connections as the sidecar's pool (redis.max_connections)
MAX_REQUESTS = 5_000_000
_RCPT = "bench-recipient-marker"
_MID = "b" * ID_LEN  # printable, so redis-benchmark passes it as text


def fcall_command(lib: FunctionLibrary) -> list[str]:
    """FCALL can_send_<h> 1 <sender key> <can_send arguments>, with placeholders."""
    req = SendRequest(sender="rb" + RAND, recipient=_RCPT, message_id="m", at_ms=0)
    raw = message_args(req)
    raw[2] = _MID  # the binary key of "m", replaced before the arguments become text
    args = [a.decode() if isinstance(a, bytes) else str(a) for a in raw]
    if _RCPT not in args:
        raise RuntimeError("can_send arguments no longer carry the recipient")
    args = ["r" + RAND if a == _RCPT else a for a in args]
    return ["FCALL", lib.function("can_send"), "1", keys.account_key(req.sender), *args]


def _check_once(r: redis.Redis, command: list[str]) -> None:
    """Run the command once with the placeholders filled: a bad call fails loudly here."""
    filled = [a.replace(RAND, "000000000001") for a in command]
    try:
        reply = r.execute_command(*filled)  # type: ignore[no-untyped-call]
    except redis.ResponseError as exc:
        raise RuntimeError(f"can_send rejected the benchmark's arguments: {exc}") from exc
    if not isinstance(reply, list):
        raise RuntimeError(f"can_send answered {reply!r}")


def _bench(
    exe: str, port: int, pid: int, pipeline: int, requests: int, command: list[str]
) -> dict[str, Any]:
    args = [
        exe, "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS), "-n", str(requests),
        "-P", str(pipeline), "-r", str(SENDERS), "--csv", *command,
    ]  # fmt: skip
    cpu0, m0, t0 = cpu_seconds(pid), machine_cpu(), time.perf_counter()
    client0 = _children_cpu()
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    cpu1, m1, wall = cpu_seconds(pid), machine_cpu(), time.perf_counter() - t0
    client = round(100 * (_children_cpu() - client0) / wall, 1)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if out.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark failed ({out.returncode}): {out.stderr[-500:]}")
    row = rows[-1]
    return {
        "pipeline": pipeline,
        "clients": CLIENTS,
        "requests": requests,
        "calls_per_s": float(row["rps"]),
        "p50_ms": float(row["p50_latency_ms"]),
        "p99_ms": float(row["p99_latency_ms"]),
        "max_ms": float(row["max_latency_ms"]),
        # redis-server's CPU over the run (its start-up and wind-down included): near 100
        # means the script itself is the limit, not the network or the client.
        "cpu_percent": _cpu_percent(cpu0, cpu1, m0, m1, wall, client),
    }


def _children_cpu() -> float:
    """CPU used by this process's finished children: here, redis-benchmark."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _cpu_percent(
    cpu0: float | None,
    cpu1: float | None,
    m0: tuple[float, float, float] | None,
    m1: tuple[float, float, float] | None,
    wall: float,
    client: float,
) -> dict[str, float]:
    out: dict[str, float] = {}
    if cpu0 is not None and cpu1 is not None:
        out["redis"] = round(100 * (cpu1 - cpu0) / wall, 1)
    out["client"] = client
    if m0 is not None and m1 is not None:
        out["machine"] = round(100 * (m1[0] - m0[0]) / wall, 1)
        out["steal"] = round(100 * (m1[1] - m0[1]) / wall, 1)
        out["irq"] = round(100 * (m1[2] - m0[2]) / wall, 1)
    add_others(out)
    return out


def run(port: int, pid: int, seconds: float, limit: int) -> dict[str, Any]:
    """FCALL can_send at -P 1 and -P 16, each for about `seconds`."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return {"skipped": "redis-benchmark not found on PATH"}
    lib = build(Settings(limits=LimitsSettings(personal_monthly=limit, business_monthly=limit)))
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        r.function_load(lib.source, replace=True)
        command = fcall_command(lib)
        _check_once(r, command)
    finally:
        r.close()
    results = []
    for pipeline in (1, 16):
        # A short calibration sizes the real run: redis-benchmark bounds by count only.
        probe = _bench(exe, port, pid, pipeline, 2_000 * pipeline, command)
        n = int(min(MAX_REQUESTS, max(1_000, probe["calls_per_s"] * seconds)))
        run_once = functools.partial(_bench, exe, port, pid, pipeline, n, command)
        results.append(with_script_cost(port, run_once))
    shown = [a if len(a) <= 24 else a[:21] + "..." for a in command]
    return {"command": " ".join(shown), "senders": SENDERS, "runs": results}
