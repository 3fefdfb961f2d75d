"""sendgate against its ceilings, in one run, side by side.

    python bench/run.py [--seconds 5] [--quick] [--out bench/results/latest.json]

Starts its own redis-server (loopback, free port), then measures, each load from its
own client process: an empty grpc.aio CanSend (the gRPC ceiling), redis-benchmark on
the real can_send script (the Redis ceiling), a real `sendgate serve` (unary CanSend
at concurrency 1, 8, 64, and CanSendBatch of 100), the `limits` library's moving-window
limiter on the same Redis (a peer), and Redis memory per active sender and per
business that reached 100K users in 24 h. Prints a table and the ratios; writes JSON.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run as a script, Python puts bench/ on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from bench import branches, memory, procs, redis_ceiling, report
from bench.redis_stats import with_script_cost
from sendgate.embedded_redis import RedisProcess, free_port

CONCURRENCY = (1, 8, 64)
BATCH_SIZE = 100
# Batches in flight. At 8 x 100 scripts the Redis queue on a 2-core machine outgrows
# the sidecar's batch budget (about 200 ms for 100) and answers degrade.
BATCH_CONCURRENCY = 4
PEER_CONCURRENCY = 64
PEER_LIMIT = "1000/month"
QUIET_PERCENT = 20  # CPU (% of one core) used by others before the run: warn above it


@dataclass(frozen=True)
class Plan:
    seconds: float
    warmup_s: float
    quick: bool
    senders: int  # memory per sender: how many ordinary months
    business_users: int  # memory per business: users reached in 24 h
    attempts: int  # a load phase tainted by other processes is run again, this often
    quiet_wait_s: float  # before each load phase, wait this long at most for a quiet machine
    max_calls: int = 2_000_000  # per load phase, across its workers
    memory_max_s: float = 600.0

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> Plan:
        if ns.quick:
            return cls(
                seconds=1.0, warmup_s=0.3, quick=True, senders=200, business_users=1000,
                attempts=1, quiet_wait_s=0,
            )  # fmt: skip
        return cls(
            seconds=ns.seconds, warmup_s=1.0, quick=False, senders=1000, business_users=100_000,
            attempts=ns.attempts, quiet_wait_s=60,
        )  # fmt: skip


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def guarded(name: str, fn: Callable[[], Any]) -> Any:
    """One phase; a failure is recorded in the results and the run goes on."""
    _log(name)
    try:
        return fn()
    except Exception as exc:
        _log(f"{name} failed: {exc}")
        # The end of the message: for a failed client process, its traceback's last lines.
        return {"error": f"{type(exc).__name__}: {exc}"[-800:]}


def load(plan: Plan, **spec: Any) -> dict[str, Any]:
    """One load phase in its own client process (bench/loadgen.py)."""
    spec |= {"seconds": plan.seconds, "warmup_s": plan.warmup_s, "max_calls": plan.max_calls}
    return procs.run_client("bench.loadgen", spec, timeout_s=plan.seconds + plan.warmup_s + 90)


def _taint(result: Any) -> float:
    """The most CPU others or the hypervisor took during any run of a phase's result."""
    if isinstance(result, list):
        return max((_taint(r) for r in result), default=0.0)
    if isinstance(result, dict):
        if "runs" in result:
            return _taint(result["runs"])
        return report.taint(result.get("cpu_percent") or {})
    return 0.0


def quiet(plan: Plan, phase: Callable[[], Any]) -> Callable[[], Any]:
    """`phase`, run on a quiet machine when possible: on a shared machine another
    process (a test suite) or the hypervisor can take a core mid-phase, so a tainted
    run is repeated and the cleanest attempt kept."""

    def run() -> Any:
        best: Any = None
        for attempt in range(1, plan.attempts + 1):
            if plan.quiet_wait_s > 0:
                procs.wait_quiet(QUIET_PERCENT, plan.quiet_wait_s)
            result = phase()
            if best is None or _taint(result) < _taint(best):
                best = result
            if _taint(best) <= report.NOISY_PERCENT:
                break
            _log(f"  others and steal took {_taint(result):.0f}% of a core (attempt {attempt})")
        return best

    return run


@dataclass(frozen=True)
class BenchRedis:
    port: int
    pid: int


def grpc_ceiling(plan: Plan) -> list[Any]:
    server = procs.ceiling_server(free_port())
    server.start()
    watch = {"server": server.pid}

    def ceiling_load(concurrency: int) -> dict[str, Any]:
        return load(
            plan, kind="ceiling", target=server.address, concurrency=concurrency, watch=watch
        )

    try:
        return [
            guarded(f"gRPC ceiling c={c}", quiet(plan, functools.partial(ceiling_load, c)))
            for c in CONCURRENCY
        ]
    finally:
        server.stop()


def sendgate_phases(plan: Plan, rd: BenchRedis, res: dict[str, Any]) -> None:
    sidecar = procs.sidecar(f"redis://127.0.0.1:{rd.port}/0", free_port())
    sidecar.start()
    target = sidecar.address
    watch = {"server": sidecar.pid, "redis": rd.pid}

    def sg_load(**spec: Any) -> dict[str, Any]:
        return with_script_cost(rd.port, lambda: load(plan, target=target, watch=watch, **spec))

    try:
        res["sendgate_unary"] = [
            guarded(
                f"sendgate CanSend c={c}",
                quiet(plan, functools.partial(sg_load, kind="unary", concurrency=c, tag=f"u{c}-")),
            )
            for c in CONCURRENCY
        ]
        res["sendgate_batch"] = guarded(
            "sendgate CanSendBatch",
            quiet(
                plan,
                lambda: sg_load(
                    kind="batch", concurrency=BATCH_CONCURRENCY, batch_size=BATCH_SIZE, tag="b-"
                ),
            ),
        )
        res["peer"] = guarded("peer (limits)", quiet(plan, lambda: peer(plan, rd)))
        r = redis.Redis(host="127.0.0.1", port=rd.port)
        try:
            res["memory"] = {
                "sender": guarded(
                    "memory per sender",
                    lambda: memory.per_sender(r, target, plan.senders, plan.memory_max_s),
                ),
                "business": guarded(
                    f"memory per business ({plan.business_users:,} users)",
                    lambda: memory.per_business(r, target, plan.business_users, plan.memory_max_s),
                ),
            }
        finally:
            r.close()
    finally:
        sidecar.stop()


def peer(plan: Plan, rd: BenchRedis) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("limits")
    except importlib.metadata.PackageNotFoundError:
        return {"skipped": "the limits package is not installed (pip install limits)"}
    stats = load(
        plan,
        kind="peer",
        redis_url=f"async+redis://127.0.0.1:{rd.port}",
        watch={"redis": rd.pid},
        limit=PEER_LIMIT,
        concurrency=PEER_CONCURRENCY,
        tag="p-",
    )
    return {**stats, "library": f"limits {version}", "limit": PEER_LIMIT}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    ap.add_argument("--quick", action="store_true", help="a ~30 s smoke run")
    ap.add_argument("--out", default=str(procs.ROOT / "bench" / "results" / "latest.json"))
    ap.add_argument(
        "--attempts", type=int, default=3, help="runs of a phase other processes disturbed"
    )
    ns = ap.parse_args()
    plan = Plan.from_args(ns)
    started = time.time()
    res: dict[str, Any] = {"plan": asdict(plan)}
    with contextlib.ExitStack() as stack:
        port = free_port()
        rp = RedisProcess(port=port)
        rp.start()
        stack.callback(rp.close)
        assert rp.pid is not None  # started
        rd = BenchRedis(port, rp.pid)
        res["machine"] = procs.machine_info(rp.executable)
        busy = res["machine"]["busy_percent_before"] = procs.busy_before()
        if busy is not None and busy > QUIET_PERCENT:
            _log(f"warning: the machine is already {busy:.0f}% busy; figures will be low")
        res["grpc_ceiling"] = guarded("gRPC ceiling", lambda: grpc_ceiling(plan))
        res["redis_ceiling"] = guarded(
            "Redis ceiling (redis-benchmark)",
            quiet(
                plan,
                lambda: redis_ceiling.run(rd.port, rd.pid, plan.seconds, int(procs.BIG_LIMIT)),
            ),
        )
        res["redis_branches"] = guarded(
            "Redis µs per decision branch (FCALL, commandstats)",
            quiet(plan, lambda: branches.run(rd.port, branches.BIG_LIMITS)),
        )
        guarded("sendgate sidecar", lambda: sendgate_phases(plan, rd, res))
    res["ratios"] = report.ratios(res)
    res["wall_seconds"] = round(time.time() - started, 1)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(report.render(res))
    _log(f"wrote {out} ({res['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
