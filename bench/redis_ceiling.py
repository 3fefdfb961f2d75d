"""The Redis ceiling: `redis-benchmark` running the real can_send script with EVALSHA.

The arguments come from `RedisStore.send_args`, the function the sidecar itself uses,
so the call stays right when the script's arguments change. Marker values for the
recipient and the message key are swapped for `__rand_int__` placeholders (each one
replaced independently on every call): two in a row make about 10^6 recipients and
message ids per sender, so calls count new messages instead of answering duplicates,
and the sender draws from `SENDERS` accounts, as the sidecar's load spreads over
many senders. Skipped, never failed, when redis-benchmark is missing.
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
from zoneinfo import ZoneInfo

import redis

from bench.driver import add_others, cpu_seconds, machine_cpu
from bench.redis_stats import with_script_cost
from sendgate import keys
from sendgate.config import LimitsSettings, Settings
from sendgate.domain import SendRequest
from sendgate.months import month_table
from sendgate.store.params import QuotaParams
from sendgate.store.redis_store import RedisStore, message_key
from sendgate.store.scripts import script

RAND = "__rand_int__"
SENDERS = 1000  # -r: each placeholder draws from 0..SENDERS-1
CLIENTS = 64  # as many connections as the sidecar's pool (redis.max_connections)
MAX_REQUESTS = 5_000_000
_RCPT, _MID = "bench-recipient-marker", "bench-message-marker"


def evalsha_command(sha: str, limit: int) -> list[str]:
    """EVALSHA sha 1 <sender key> <can_send arguments>, with placeholders."""
    settings = Settings(limits=LimitsSettings(personal_monthly=limit, business_monthly=limit))
    req = SendRequest(sender="rb" + RAND, recipient=_RCPT, message_id=_MID, at_ms=0)
    months = month_table(int(time.time() * 1000), ZoneInfo(settings.limits.timezone))
    raw = RedisStore.send_args(req, QuotaParams.from_settings(settings), months)
    # The store may pre-encode constant arguments; redis-benchmark takes text.
    args = [a.decode() if isinstance(a, bytes) else str(a) for a in raw]
    swaps = {_RCPT: "r" + RAND * 2, message_key(_MID): RAND * 2}
    if sorted(a for a in args if a in swaps) != sorted(swaps):
        raise RuntimeError("can_send arguments no longer carry the recipient and message key")
    args = [swaps.get(a, a) for a in args]
    return ["EVALSHA", sha, "1", keys.account_key(req.sender), *args]


def _check_once(r: redis.Redis, command: list[str]) -> None:
    """Run the command once with the placeholders filled: a bad call fails loudly here."""
    filled = [a.replace(RAND, "000000000001") for a in command]
    try:
        reply = r.evalsha(filled[1], int(filled[2]), *filled[3:])
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
    """EVALSHA can_send at -P 1 and -P 16, each for about `seconds`."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return {"skipped": "redis-benchmark not found on PATH"}
    source = script("can_send")
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        sha = r.script_load(source.source)
        if sha != source.sha:
            raise RuntimeError(f"SCRIPT LOAD gave {sha}, expected {source.sha}")
        command = evalsha_command(sha, limit)
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
