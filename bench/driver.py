"""A closed-loop load driver bounded in time and in count, and its latency summary.

Runs in the client processes. Each of `concurrency` workers awaits one call at a time;
calls that start during the warm-up (connections, script loads, caches) are not counted.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc

# (worker, i) -> decisions this call made (1 for unary, the batch size for a batch).
Call = Callable[[int, int], Awaitable[int]]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far, from /proc (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float, float] | None:
    """(busy, stolen, interrupts) CPU seconds of the whole machine so far (/proc/stat).

    Interrupt time is the kernel's loopback networking for our own sockets, charged to
    no process: it is kept apart so it does not read as other processes' load.
    """
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / hz, ticks[7] / hz, (ticks[5] + ticks[6]) / hz


def cpu_snapshot(watch: dict[str, int]) -> dict[str, float | None]:
    snap: dict[str, float | None] = {name: cpu_seconds(pid) for name, pid in watch.items()}
    snap["client"] = time.process_time()  # this process, every thread
    # The whole machine too: on a small or shared machine, others' load (or a
    # hypervisor's steal) explains a slow run.
    busy = machine_cpu()
    snap["machine"], snap["steal"], snap["irq"] = busy if busy else (None, None, None)
    return snap


def cpu_window(
    start: dict[str, float | None], end: dict[str, float | None], elapsed: float, per: int
) -> tuple[dict[str, float], dict[str, float]]:
    """(% of one core, µs per unit of work) of every snapshot name, over one window.

    `per` is the window's decisions (or calls). Only processes named in `watch` and the
    client get a µs figure; machine-wide counters get a percentage only.
    """
    used = {
        name: e - s
        for name, e in end.items()
        if e is not None and (s := start.get(name)) is not None
    }
    percent = {name: round(100 * v / elapsed, 1) for name, v in used.items()}
    add_others(percent)
    machine_wide = ("machine", "steal", "irq")
    per_unit = {
        name: round(1e6 * v / per, 1)
        for name, v in used.items()
        if name not in machine_wide and per > 0
    }
    return percent, per_unit


def add_others(cpu: dict[str, float]) -> None:
    """`others`: CPU used by processes outside the benchmark during the window."""
    if "machine" in cpu:
        ours = sum(v for k, v in cpu.items() if k not in ("machine", "steal"))
        cpu["others"] = round(max(0.0, cpu["machine"] - cpu.get("steal", 0.0) - ours), 1)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not ordered:
        return math.nan
    rank = min(len(ordered), max(1, math.ceil(q * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Stats:
    concurrency: int
    calls: int
    decisions: int
    seconds: float
    calls_per_s: float
    decisions_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    errors: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    # Share of one core each process used in the measured window (2 cores: up to 200);
    # `machine` is every process together, `steal` what the hypervisor took, `irq` the
    # kernel's interrupt work (loopback networking), `others` what processes outside the
    # benchmark used.
    cpu_percent: dict[str, float] = field(default_factory=dict)
    # Decisions of the whole phase, warm-up included: what Redis's counters also saw.
    decisions_total: int = 0
    # CPU microseconds each watched process used per decision in the window (per call
    # when a call makes no decision, as the ceiling's): the per-call cost that a
    # throughput figure on a busy machine hides.
    cpu_us_per_decision: dict[str, float] = field(default_factory=dict)
    # os.getloadavg() when the window closed: other engineers' tests share the machine.
    loadavg: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def drive(
    call: Call,
    *,
    concurrency: int,
    seconds: float,
    warmup_s: float,
    max_calls: int,
    watch: dict[str, int] | None = None,
) -> Stats:
    """Run `call` from `concurrency` workers for `seconds` (after `warmup_s`).

    `watch` names server processes (name -> PID) whose CPU use in the window is reported.
    """
    per_worker = max(1, max_calls // concurrency)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    decisions = total = 0
    measure_from = time.perf_counter() + warmup_s
    stop = measure_from + seconds
    cpu_start: dict[str, float | None] = {}
    # Snapshot CPU counters when the measured window opens, not at the first call.
    watched = watch or {}
    asyncio.get_running_loop().call_later(warmup_s, lambda: cpu_start.update(cpu_snapshot(watched)))

    async def worker(w: int) -> None:
        nonlocal decisions, total
        for i in range(per_worker):
            start = time.perf_counter()
            if start >= stop:
                return
            try:
                made = await call(w, i)
            except grpc.aio.AioRpcError as exc:
                # Counted, not fatal: the table shows them next to the figures.
                errors[exc.code().name] += 1
                continue
            total += made
            if start >= measure_from:
                latencies.append(time.perf_counter() - start)
                decisions += made

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = max(1e-9, time.perf_counter() - measure_from)
    per = decisions or len(latencies)
    cpu, per_unit = cpu_window(cpu_start, cpu_snapshot(watched), elapsed, per)
    latencies.sort()
    return Stats(
        concurrency=concurrency,
        calls=len(latencies),
        decisions=decisions,
        decisions_total=total,
        seconds=round(elapsed, 3),
        calls_per_s=round(len(latencies) / elapsed, 1),
        decisions_per_s=round(decisions / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 3),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 3),
        p999_ms=round(percentile(latencies, 0.999) * 1000, 3),
        errors=dict(errors),
        cpu_percent=cpu,
        cpu_us_per_decision=per_unit,
        loadavg=[round(v, 2) for v in os.getloadavg()],
    )
