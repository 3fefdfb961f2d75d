"""sendgate against its ceilings, in one run, side by side.

    python bench/run.py [--seconds 5] [--quick] [--out bench/results/latest.json]

Starts its own redis-server (loopback, free port), measures redis-benchmark on the real
can_send script (the Redis ceiling) and Redis µs per branch, then starts, side by side,
every server a ratio compares: an empty grpc.aio handler (the gRPC ceiling, on TCP
loopback and a unix socket), a real `sendgate serve` on TCP and another on a unix
socket, and the `limits` library's moving-window limiter behind a grpc.aio CanSend on
the same Redis (the peer, bench/peer_server.py). Each load runs from its own client
process, and the two sides of a ratio run back to back (on a shared machine the load
drifts): unary at concurrency 1, 8, 64 (ceiling, sendgate, peer at 64; TCP and unix),
CanSendStream (empty streaming handler and sendgate), CanSendBatch of 100; then Redis
memory per active sender and per business that reached 100K users in 24 h. The
server processes' CPU per call is recorded in each window. Prints a table and the
ratios of issue 12's targets; writes JSON. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Run as a script, Python puts bench/ on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from bench import branches, memory, procs, redis_ceiling, report
from bench.procs import ServerProcess
from bench.redis_stats import with_script_cost
from sendgate.embedded_redis import RedisProcess, free_port

CONCURRENCY = (1, 8, 64)
UNIX_CONCURRENCY = (1, 64)
BATCH_SIZE = 100
# Batches in flight. At 8 x 100 scripts the Redis queue on a 2-core machine outgrows
# the sidecar's batch budget (about 200 ms for 100) and answers degrade.
BATCH_CONCURRENCY = 4
STREAMS = 4  # long-lived CanSendStream calls, as a chat node would keep a few open
PEER_CONCURRENCY = 64
PEER_LIMIT = "1000/month"
QUIET_PERCENT = 20  # CPU (% of one core) used by others before the run: warn above it
# Past this, a phase gets one attempt and no quiet wait. The loads take ~2 min, the
# 100K-business memory phase alone ~2.5 min: retries stop early to keep a run ~6 min.
BUDGET_S = 150.0


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
    budget_s: float = BUDGET_S
    started: float = 0.0  # time.monotonic() at the start of the run

    @classmethod
    def from_args(cls, ns: argparse.Namespace) -> Plan:
        now = time.monotonic()
        if ns.quick:
            return cls(
                seconds=1.0, warmup_s=0.3, quick=True, senders=200, business_users=1000,
                attempts=1, quiet_wait_s=0, started=now,
            )  # fmt: skip
        return cls(
            seconds=ns.seconds, warmup_s=1.0, quick=False, senders=1000, business_users=100_000,
            attempts=ns.attempts, quiet_wait_s=15, started=now,
        )  # fmt: skip

    def late(self) -> bool:
        return time.monotonic() - self.started > self.budget_s


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def guarded(name: str, fn: Callable[[], Any]) -> Any:
    """One phase; a failure is recorded in the results and the run goes on."""
    _log(f"{name}  (load {os.getloadavg()[0]:.2f})")
    try:
        return fn()
    except Exception as exc:
        _log(f"{name} failed: {exc}")
        # The end of the message: for a failed client process, its traceback's last lines.
        return {"error": f"{type(exc).__name__}: {exc}"[-800:]}


def load(plan: Plan, module: str = "bench.loadgen", **spec: Any) -> dict[str, Any]:
    """One load phase in its own client process (bench/loadgen.py or bench/stream.py)."""
    spec |= {"seconds": plan.seconds, "warmup_s": plan.warmup_s, "max_calls": plan.max_calls}
    return procs.run_client(module, spec, timeout_s=plan.seconds + plan.warmup_s + 90)


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
    run is repeated and the cleanest attempt kept, while the run is within its budget."""

    def run() -> Any:
        best: Any = None
        for attempt in range(1, plan.attempts + 1):
            if plan.quiet_wait_s > 0 and not plan.late():
                procs.wait_quiet(QUIET_PERCENT, plan.quiet_wait_s)
            result = phase()
            if best is None or _taint(result) < _taint(best):
                best = result
            if _taint(best) <= report.NOISY_PERCENT or plan.late():
                break
            _log(f"  others and steal took {_taint(result):.0f}% of a core (attempt {attempt})")
        return best

    return run


@dataclass(frozen=True)
class BenchRedis:
    port: int
    pid: int


@dataclass(frozen=True)
class Servers:
    """Every server a ratio compares, all up at once (idle ones cost next to nothing)."""

    ceiling: ServerProcess  # TCP (its address) and `ceiling_unix`
    ceiling_unix: str
    sidecar: ServerProcess
    sidecar_unix: ServerProcess
    peer: ServerProcess | None  # None without the `limits` package


@contextlib.contextmanager
def servers(rd: BenchRedis) -> Iterator[Servers]:
    sockets = tempfile.mkdtemp(prefix="sgbench-", dir="/tmp")
    url = f"redis://127.0.0.1:{rd.port}/0"
    ceiling_unix = f"unix://{sockets}/ceiling.sock"
    started: list[ServerProcess] = []

    def up(server: ServerProcess) -> ServerProcess:
        started.append(server)
        server.start()
        return server

    try:
        yield Servers(
            ceiling=up(procs.ceiling_server(free_port(), ceiling_unix)),
            ceiling_unix=ceiling_unix,
            sidecar=up(procs.sidecar(url, free_port())),
            sidecar_unix=up(procs.sidecar(url, f"unix://{sockets}/sendgate.sock")),
            peer=up(procs.peer_server(rd.port, free_port(), PEER_LIMIT)) if _limits() else None,
        )
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(sockets, ignore_errors=True)


def _limits() -> str | None:
    try:
        return importlib.metadata.version("limits")
    except importlib.metadata.PackageNotFoundError:
        return None


def load_phases(plan: Plan, rd: BenchRedis, sv: Servers, res: dict[str, Any]) -> None:
    """The loads, each ratio's two sides back to back; results by key, per concurrency."""

    def ceiling(target: str, c: int) -> dict[str, Any]:
        return load(
            plan, kind="ceiling", target=target, concurrency=c, watch={"server": sv.ceiling.pid}
        )

    def sendgate(server: ServerProcess, c: int, tag: str, kind: str = "unary") -> dict[str, Any]:
        watch = {"server": server.pid, "redis": rd.pid}
        spec: dict[str, Any] = {"kind": kind, "target": server.address, "concurrency": c,
                                "tag": tag}  # fmt: skip
        if kind == "batch":
            spec["batch_size"] = BATCH_SIZE
        return with_script_cost(rd.port, lambda: load(plan, watch=watch, **spec))

    def peer(c: int) -> dict[str, Any]:
        if sv.peer is None:
            return {"skipped": "the limits package is not installed (pip install limits)"}
        watch = {"server": sv.peer.pid, "redis": rd.pid}
        stats = load(plan, kind="unary", target=sv.peer.address, concurrency=c, tag="p-",
                     watch=watch)  # fmt: skip
        return {**stats, "library": f"limits {_limits()}", "limit": PEER_LIMIT}

    def stream(kind: str, server: ServerProcess) -> dict[str, Any]:
        watch = {"server": server.pid} | ({"redis": rd.pid} if kind == "mix" else {})
        return load(plan, "bench.stream", kind=kind, target=server.address, streams=STREAMS,
                    watch=watch, tag="st-")  # fmt: skip

    schedule: list[tuple[str, str, int, Callable[[], dict[str, Any]]]] = []
    for c in CONCURRENCY:
        schedule += [
            ("grpc_ceiling", "gRPC ceiling", c, functools.partial(ceiling, sv.ceiling.address, c)),
            ("sendgate_unary", "sendgate CanSend", c,
             functools.partial(sendgate, sv.sidecar, c, f"u{c}-")),
        ]  # fmt: skip
        if c == PEER_CONCURRENCY:
            schedule.append(("peer", "peer: limits over gRPC", c, functools.partial(peer, c)))
        if c in UNIX_CONCURRENCY:
            schedule += [
                ("grpc_ceiling_unix", "gRPC ceiling unix", c,
                 functools.partial(ceiling, sv.ceiling_unix, c)),
                ("sendgate_unary_unix", "sendgate CanSend unix", c,
                 functools.partial(sendgate, sv.sidecar_unix, c, f"x{c}-")),
            ]  # fmt: skip
    for key, name, c, fn in schedule:
        result = guarded(f"{name} c={c}", quiet(plan, fn))
        result.setdefault("concurrency", c)
        if key == "peer":
            res[key] = result
        else:
            res.setdefault(key, []).append(result)
    res["stream"] = {
        "ceiling": guarded(
            f"empty CanSendStream x{STREAMS}", quiet(plan, lambda: stream("ceiling", sv.ceiling))
        ),
        "sendgate": guarded(
            f"sendgate CanSendStream x{STREAMS}", quiet(plan, lambda: stream("mix", sv.sidecar))
        ),
    }
    res["sendgate_batch"] = guarded(
        "sendgate CanSendBatch",
        quiet(plan, lambda: sendgate(sv.sidecar, BATCH_CONCURRENCY, "b-", kind="batch")),
    )


def memory_phases(plan: Plan, rd: BenchRedis, target: str, res: dict[str, Any]) -> None:
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


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    ap.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    ap.add_argument("--out", default=str(procs.ROOT / "bench" / "results" / "latest.json"))
    ap.add_argument(
        "--attempts", type=int, default=2, help="runs of a phase other processes disturbed"
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
        # Branches first: the ceiling's million new keys leave Redis growing its key
        # table for a few seconds, which doubled the per-command time of the branch
        # run right after it (67.5 us on the mix, then 34.4 and 34.3 two and four
        # seconds later).
        res["redis_branches"] = guarded(
            "Redis µs per decision branch (FCALL, commandstats)",
            quiet(plan, lambda: branches.run(rd.port, branches.BIG_LIMITS)),
        )
        res["redis_ceiling"] = guarded(
            "Redis ceiling (redis-benchmark)",
            quiet(
                plan,
                lambda: redis_ceiling.run(rd.port, rd.pid, plan.seconds, int(procs.BIG_LIMIT)),
            ),
        )

        def with_servers() -> None:
            with servers(rd) as sv:
                load_phases(plan, rd, sv, res)
                memory_phases(plan, rd, sv.sidecar.address, res)

        guarded("servers: empty handler, sendgate (TCP, unix), limits peer", with_servers)
    res["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
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
