"""Where the sidecar's CPU goes per decision: py-spy on `sendgate serve` under load.

    python bench/profile.py [--seconds 10] [--concurrency 64] [--native] [--top 40]
                            [--target sendgate|ceiling] [--out /tmp/sendgate-profile]

Starts its own redis-server (loopback, free port) and a real `sendgate serve` (or the
empty handler, for comparison), drives unary CanSend from a client process (the
load of bench/run.py), and records the server with `py-spy record` (needs py-spy
installed and ptrace rights: root, or CAP_SYS_PTRACE). Prints the top frames by self
time and the share of samples per layer of the per-call path (grpc, rpc_wrap,
service, gate, store, redis client, metrics, events, asyncio/uvloop, protobuf), and
writes the collapsed stacks (`OUT.txt`, for flamegraph tools) and the summary as
JSON (`OUT.json`). Bounded in time; stops only the processes it started.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import procs
from sendgate.embedded_redis import RedisProcess, free_port

# The venv's py-spy when the venv is not on PATH (python -m of a venv's interpreter).
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

# (layer, substrings of a frame's "function (file)" text), first match wins.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rpc_wrap", ("sendgate/rpc_wrap.py",)),
    ("metrics", ("sendgate/metrics.py", "prometheus_client")),
    ("events", ("sendgate/events",)),
    ("service", ("sendgate/service.py", "sendgate/validation.py", "sendgate/convert.py",
                 "sendgate/domain.py", "sendgate/auth.py")),
    ("gate", ("sendgate/gate.py", "sendgate/guard.py", "sendgate/breaker.py",
              "sendgate/policy", "sendgate/months.py", "sendgate/keys.py")),
    ("store", ("sendgate/store/",)),
    ("redis client", ("redis/", "hiredis")),
    ("protobuf", ("google/protobuf", "upb", "_message")),
    ("grpc", ("/grpc/", "cygrpc", ".pyx", "libgrpc")),
    ("asyncio/uvloop", ("asyncio/", "uvloop", "selectors.py")),
)  # fmt: skip


# Leaf functions of a thread blocked in the kernel: waiting, not working (py-spy's
# --native mode samples them as active).
IDLE_LEAVES = (
    "poll", "epoll_wait", "epoll_pwait", "select", "pthread_cond_timedwait",
    "pthread_cond_wait", "__futex_abstimed_wait_common", "nanosleep", "syscall",
)  # fmt: skip


def layer(frame: str) -> str:
    for name, needles in LAYERS:
        if any(n in frame for n in needles):
            return name
    return "other"


# Without --native, C work shows as self time of the last Python frame above it: under
# the loop's run (grpc's Cython and C core, uvloop, upb) or a bare thread (grpc's poller).
NATIVE_LEAVES = {
    "Runner.run": "native under the loop (grpc cython/core, uvloop, upb)",
    "run_until_complete": "native under the loop (grpc cython/core, uvloop, upb)",
    "Thread.run": "native in a thread (grpc poller)",
}


def owner(frames: list[str]) -> str:
    """The layer a sample's CPU belongs to: the frame nearest the leaf that names one
    (interpreter and libc frames count for the code that called them)."""
    if (native := NATIVE_LEAVES.get(frames[-1].split(" (")[0])) is not None:
        return native
    for frame in reversed(frames[1:]):  # frames[0] is the thread
        if (name := layer(frame)) not in ("other", "asyncio/uvloop"):
            return name
    # Only the event loop (or nothing known) on the stack: the loop's own work.
    return "asyncio/uvloop" if any(layer(f) == "asyncio/uvloop" for f in frames) else "other"


def summarise(collapsed: str, top: int) -> dict[str, Any]:
    """Self time per frame, self and inclusive time per layer, from py-spy's raw output
    (`--threads`: each stack starts with its thread)."""
    self_time: Counter[str] = Counter()
    self_layer: Counter[str] = Counter()
    incl_layer: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = idle = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[-1].split(" (")[0] in IDLE_LEAVES:
            idle += n
            continue
        total += n
        threads[frames[0].split(": ", 1)[-1]] += n
        self_time[frames[-1]] += n
        self_layer[owner(frames)] += n
        for name in {layer(f) for f in frames[1:]}:
            incl_layer[name] += n

    def pct(n: int) -> float:
        return round(100 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "idle_samples_left_out": idle,
        "percent_by_thread": {k: pct(v) for k, v in threads.most_common()},
        "self_percent_by_layer": {k: pct(v) for k, v in self_layer.most_common()},
        "inclusive_percent_by_layer": {k: pct(v) for k, v in incl_layer.most_common()},
        "top_self_frames": [
            {"frame": f, "layer": layer(f), "percent": pct(v)}
            for f, v in self_time.most_common(top)
        ],
    }


def record(pid: int, seconds: float, out: Path, native: bool) -> str:
    args = [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(seconds)),
            "--format", "raw", "--function", "--full-filenames", "--threads",
            "--output", str(out), "--rate", "200"]  # fmt: skip
    if native:
        args.append("--native")
    else:
        # Read the stacks without pausing the server: its throughput stays as measured.
        args.append("--nonblocking")
    subprocess.run(args, check=True, timeout=seconds + 60, capture_output=True)
    return out.read_text()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--target", choices=("sendgate", "ceiling"), default="sendgate")
    ap.add_argument("--native", action="store_true", help="C/Cython frames too (slower)")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", default="/tmp/sendgate-profile")
    ns = ap.parse_args()
    if not Path(PY_SPY).exists():
        print("py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2
    rp = RedisProcess(port=free_port())
    rp.start()
    if ns.target == "sendgate":
        server = procs.sidecar(rp.url, free_port())
    else:
        server = procs.ceiling_server(free_port())
    kind = "unary" if ns.target == "sendgate" else "ceiling"
    result: dict[str, Any] = {}
    try:
        server.start()
        assert server.pid is not None  # started
        warmup = 2.0
        spec = {"kind": kind, "target": server.address, "concurrency": ns.concurrency,
                "seconds": ns.seconds + 2, "warmup_s": warmup, "max_calls": 5_000_000,
                "tag": "prof-", "watch": {"server": server.pid}}  # fmt: skip

        def drive() -> None:
            result["load"] = procs.run_client("bench.loadgen", spec, timeout_s=ns.seconds + 90)

        loader = threading.Thread(target=drive)
        loader.start()
        time.sleep(warmup)
        collapsed = record(server.pid, ns.seconds, Path(f"{ns.out}.txt"), ns.native)
        loader.join(ns.seconds + 120)
    finally:
        server.stop()
        rp.close()
    summary = {"target": ns.target, "concurrency": ns.concurrency, "native": ns.native,
               "load": result.get("load"), **summarise(collapsed, ns.top)}  # fmt: skip
    Path(f"{ns.out}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(render(summary))
    return 0


def render(s: dict[str, Any]) -> str:
    load = s.get("load") or {}
    us = (load.get("cpu_us_per_decision") or {}).get("server") or 0.0
    out = [
        f"{s['target']} c={s['concurrency']}: {load.get('decisions_per_s')} /s, server CPU "
        f"{(load.get('cpu_us_per_decision') or {}).get('server')} us per call; "
        f"{s['samples']} samples",
        "by thread: " + ", ".join(f"{k} {v}" for k, v in s["percent_by_thread"].items()),
        "self % by layer: " + ", ".join(f"{k} {v}" for k, v in s["self_percent_by_layer"].items()),
        "us of server CPU per call by layer (self): "
        + ", ".join(f"{k} {v * us / 100:.0f}" for k, v in s["self_percent_by_layer"].items() if us),
        "inclusive % by layer: "
        + ", ".join(f"{k} {v}" for k, v in s["inclusive_percent_by_layer"].items()),
        "top self frames:",
    ]
    out += [f"  {f['percent']:5.1f}%  [{f['layer']}] {f['frame']}" for f in s["top_self_frames"]]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
