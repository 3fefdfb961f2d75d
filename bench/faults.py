"""What each Redis fault does to latency and to decisions, measured on loopback.

    python bench/faults.py [--fault kill pause ...] [--mode fail_open fail_closed]
                           [--seconds 2] [--deadline-ms 300] [--json out.json]

For every fault and failure mode it starts its own redis-server (append-only file on,
free port) and a real `sendgate serve` process with default Redis settings, drives
CanSend from this process with 4 concurrent callers (each call with the caller deadline
given), then: 2 s steady, the fault for `--seconds`, 3 s after (15 s for failover). Per
phase it reports calls, latency p50/p99/max, and how the answers split: normal, degraded
ALLOW/DENY, and gRPC errors; calls belong to the phase in which they were sent, so a
call in flight when the fault begins counts as "before". "recovery" is the time from the
fault's end (for flush and failover: from the fault itself) until the last abnormal
answer arrived. Counting checks compare acknowledged counts with Redis's counters
afterwards.

Faults: kill (SIGKILL, restarted on the same port), pause (SIGSTOP/SIGCONT), flush
(FUNCTION FLUSH: decisions are Redis Functions, so a SCRIPT FLUSH no longer touches
them), oom (maxmemory 1 with noeviction), lossy (a proxy that drops 30 % of
Redis replies), failover (a Redis Cluster primary killed; its replica takes over).
Loopback only; every loop bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import procs
from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.keys import account_base, account_key
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc
from tests.cluster import RedisCluster
from tests.faultproxy import FaultProxy

T0 = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
MONTH_LABEL = "202603"  # the quota hash of T0's month (sendgate.months)
FAULTS = ("kill", "pause", "flush", "oom", "lossy", "failover")
WORKERS = 4
MAX_CALLS = 200_000


@dataclass
class Call:
    at: float  # seconds since the run started, when the call was sent
    ms: float
    outcome: str  # ok | degraded_allow | degraded_deny | error:<CODE>
    sender: str
    allowed: bool


@dataclass
class Run:
    t0: float = field(default_factory=time.monotonic)
    calls: list[Call] = field(default_factory=list)
    fault_start: float = 0.0
    fault_end: float = 0.0


async def drive(target: str, run: Run, stop: asyncio.Event, deadline_s: float) -> None:
    start = run.t0
    counter = iter(range(MAX_CALLS))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.SendGateStub(channel)

        async def worker() -> None:
            for i in counter:
                if stop.is_set():
                    return
                sender = f"fault-s{i}"
                req = pb.CanSendRequest(
                    sender=sender, recipient=f"fault-r{i}", message_id=f"m{i}", at_unix_ms=T0
                )
                t = time.monotonic()
                try:
                    resp = await stub.CanSend(req, timeout=deadline_s)
                    allowed = resp.decision == pb.ALLOW
                    if not resp.degraded:
                        outcome = "ok"
                    else:
                        outcome = "degraded_allow" if allowed else "degraded_deny"
                except grpc.aio.AioRpcError as err:
                    allowed, outcome = False, f"error:{err.code().name}"
                done = time.monotonic()
                run.calls.append(Call(t - start, (done - t) * 1000, outcome, sender, allowed))
                if outcome != "ok":
                    await asyncio.sleep(0.005)  # failures come fast; keep the count sane

        await asyncio.gather(*(worker() for _ in range(WORKERS)))


def phase_stats(calls: list[Call]) -> dict[str, Any]:
    if not calls:
        return {"calls": 0}
    ms = sorted(c.ms for c in calls)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return {
        "calls": len(calls),
        "p50_ms": round(q[49], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(ms[-1], 2),
        "outcomes": dict(Counter(c.outcome for c in calls)),
    }


def recovery_s(run: Run) -> float:
    """Seconds from the fault's end until the last abnormal answer arrived (0: none)."""
    ends = [c.at + c.ms / 1000 for c in run.calls if c.outcome != "ok"]
    last = max((e for e in ends if e >= run.fault_end), default=run.fault_end)
    return round(last - run.fault_end, 3)


def counted(client: Any, calls: list[Call]) -> dict[str, int]:
    """Counted answers (normal ALLOW: each sender sends once) against Redis's counters.

    `lost`: acknowledged but not in Redis (a crash before the append-only file was
    written). `unacknowledged`: in Redis, but the caller saw a degraded answer or an
    error (the script ran; its reply was lost or came too late). `over`: counted more
    than once (must be 0: a sender sends one message).
    """
    acked = {c.sender for c in calls if c.outcome == "ok" and c.allowed}
    senders = sorted({c.sender for c in calls})
    stored: dict[str, int] = {}
    for i in range(0, len(senders), 1000):
        chunk = senders[i : i + 1000]
        pipe = client.pipeline(transaction=False)
        for sender in chunk:
            pipe.hget(account_base(sender) + f"q:{MONTH_LABEL}", "u")
        for sender, raw in zip(chunk, pipe.execute(), strict=True):
            if raw and int(raw):
                stored[sender] = int(raw)
    return {
        "acknowledged": len(acked),
        "stored": len(stored),
        "lost": len(acked - stored.keys()),
        "unacknowledged": len(stored.keys() - acked),
        "over": sum(1 for n in stored.values() if n > 1),
    }


class Fault:
    """Starts the Redis side, applies and lifts one fault."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tmp = tempfile.TemporaryDirectory(prefix="sendgate-fault-")
        self.redis: RedisProcess | None = None
        self.cluster: RedisCluster | None = None
        self.proxy: FaultProxy | None = None
        self.victim: RedisProcess | None = None  # failover: the primary to kill
        self.url = ""

    async def setup(self) -> None:
        if self.name == "failover":
            self.cluster = RedisCluster(node_timeout_ms=2000)
            self.cluster.start()
            self.url = self.cluster.url
            self.victim = self.cluster.primary_for(account_key("fault-s0"))
            return
        self.redis = RedisProcess(port=free_port(), data_dir=self.tmp.name)
        self.redis.start()
        self.url = self.redis.url
        if self.name == "lossy":
            self.proxy = FaultProxy(self.redis.port or 0, drop=0.0, seed=7)
            await self.proxy.start()
            self.url = self.proxy.url

    def inspect(self) -> Any:
        if self.cluster is not None:
            alive = next(n for n in self.cluster.nodes if n is not self.victim)
            return redis.RedisCluster.from_url(alive.url)
        assert self.redis is not None
        return redis.Redis.from_url(self.redis.url)

    async def apply(self) -> None:
        if self.name == "lossy" and self.proxy is not None:
            self.proxy.drop = 0.3  # the proxy lives on this loop: set it here
        else:
            # Blocking steps (waiting for a killed process, redis-cli) off the callers' loop.
            await asyncio.to_thread(self._apply)

    def _apply(self) -> None:
        r = self.redis
        if self.name == "kill" and r is not None:
            r.kill()
        elif self.name == "pause" and r is not None:
            r.signal(signal.SIGSTOP)
        elif self.name == "flush":
            with contextlib.closing(self.inspect()) as c:
                c.function_flush()
        elif self.name == "oom":
            with contextlib.closing(self.inspect()) as c:
                c.config_set("maxmemory", 1)
        elif self.name == "failover" and self.victim is not None:
            self.victim.kill()

    async def lift(self) -> None:
        if self.name == "lossy" and self.proxy is not None:
            self.proxy.drop = 0.0
        else:
            await asyncio.to_thread(self._lift)

    def _lift(self) -> None:
        r = self.redis
        if self.name == "kill" and r is not None:
            r.start()
        elif self.name == "pause" and r is not None:
            r.signal(signal.SIGCONT)
        elif self.name == "oom":
            with contextlib.closing(self.inspect()) as c:
                c.config_set("maxmemory", 0)
        # flush: nothing to lift; failover: the replica takes over by itself.

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        if self.redis is not None:
            self.redis.close()
        if self.cluster is not None:
            self.cluster.close()
        self.tmp.cleanup()


async def one(name: str, mode: str, seconds: float, deadline_s: float) -> dict[str, Any]:
    fault = Fault(name)
    try:
        await fault.setup()
        return await measure(fault, mode, seconds, deadline_s)
    finally:
        await fault.close()


async def measure(fault: Fault, mode: str, seconds: float, deadline_s: float) -> dict[str, Any]:
    name = fault.name
    sidecar = procs.sidecar(
        fault.url, free_port(), "--failure-mode", mode, SENDGATE_BULK__ENABLED="false"
    )
    # In a thread: the fault proxy runs on this event loop and must keep forwarding.
    await asyncio.to_thread(sidecar.start)
    stop = asyncio.Event()
    run = Run()
    try:
        load = asyncio.create_task(drive(sidecar.address, run, stop, deadline_s))
        await asyncio.sleep(2.0)
        run.fault_start = time.monotonic() - run.t0
        await fault.apply()
        # A flush is instant; a failover has no end of its own: both count from the fault.
        await asyncio.sleep(seconds if name not in ("flush", "failover") else 0.0)
        await fault.lift()
        run.fault_end = time.monotonic() - run.t0
        # The failover has no "lift": wait (bounded) for the replica to take over.
        await asyncio.sleep(3.0 if name != "failover" else 15.0)
        stop.set()
        await asyncio.wait_for(load, timeout=30)
    finally:
        await asyncio.to_thread(sidecar.stop)  # SIGTERM, a graceful stop
    before = [c for c in run.calls if c.at < run.fault_start]
    during = [c for c in run.calls if run.fault_start <= c.at < run.fault_end]
    after = [c for c in run.calls if c.at >= run.fault_end]
    result: dict[str, Any] = {
        "fault": name,
        "mode": mode,
        "fault_seconds": round(run.fault_end - run.fault_start, 3),
        "before": phase_stats(before),
        "during": phase_stats(during),
        "after": phase_stats(after),
        "recovery_s": recovery_s(run),
    }
    with contextlib.closing(fault.inspect()) as client:
        result["counts"] = await asyncio.to_thread(counted, client, run.calls)
    return result


def show(r: dict[str, Any]) -> None:
    def line(label: str, p: dict[str, Any]) -> str:
        if not p.get("calls"):
            return f"  {label:7} no calls"
        outs = ", ".join(f"{k} {v}" for k, v in sorted(p["outcomes"].items()))
        return (
            f"  {label:7} {p['calls']:6} calls  p50 {p['p50_ms']:7.2f}  p99 {p['p99_ms']:7.2f}"
            f"  max {p['max_ms']:7.2f} ms  [{outs}]"
        )

    print(f"{r['fault']} / {r['mode']}  (fault {r['fault_seconds']} s, "
          f"recovery {r['recovery_s']} s, counts {r['counts']})")  # fmt: skip
    for label in ("before", "during", "after"):
        print(line(label, r[label]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fault", nargs="+", choices=FAULTS, default=list(FAULTS))
    ap.add_argument("--mode", nargs="+", choices=["fail_open", "fail_closed"],
                    default=["fail_open", "fail_closed"])  # fmt: skip
    ap.add_argument("--seconds", type=float, default=2.0, help="how long each fault lasts")
    ap.add_argument("--deadline-ms", type=float, default=300.0, help="each call's deadline")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    results = []
    for name in args.fault:
        for mode in args.mode:
            r = asyncio.run(one(name, mode, min(args.seconds, 10.0), args.deadline_ms / 1000))
            show(r)
            results.append(r)
    if args.json:
        # Merge with an earlier run's file: a rerun of one fault replaces only its rows.
        done = {(r["fault"], r["mode"]) for r in results}
        old = json.loads(args.json.read_text()) if args.json.exists() else []
        kept = [r for r in old if (r["fault"], r["mode"]) not in done]
        order = {f: i for i, f in enumerate(FAULTS)}
        merged = sorted(kept + results, key=lambda r: (order[r["fault"]], r["mode"] != "fail_open"))
        args.json.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
