"""A/B of sidecar versions on the unary path: each version's `sendgate serve` from its own
source tree, measured in alternation (A B A B …) against the empty handler.

    python bench/ab.py --src A=/tmp/a/src --src B=server/src [--rounds 3] [--seconds 4]
                       [--concurrency 1 64] [--stream]

With `--stream` the load is CanSendStream (bench/stream.py: `--concurrency` streams,
each writing as fast as flow control lets it) against the empty streaming handler.

A source tree is a copy of `server/src` (for example `git archive COMMIT server/src`);
it goes first on the sidecar's PYTHONPATH, so its `sendgate` modules win over the
installed ones. On a shared machine one run of a phase is noise: the versions
alternate, every round measures each of them once, and the table shows the best and the
median per version (decisions/s, p50, server CPU per decision, and the same against
the empty handler measured in that round). Loopback, one redis-server of its own; stops
only the processes it started.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import procs
from sendgate.embedded_redis import RedisProcess, free_port


def _sidecar(redis_url: str, src: str) -> procs.ServerProcess:
    server = procs.sidecar(redis_url, free_port())
    env = server._env
    env["PYTHONPATH"] = os.pathsep.join([str(Path(src).resolve()), env.get("PYTHONPATH", "")])
    return server


def _row(stats: dict[str, Any], ceiling: dict[str, Any]) -> dict[str, float]:
    rate = float(
        stats.get("decisions_per_s") or stats.get("calls_per_s") or stats.get("messages_per_s") or 0
    )
    cpu = float((stats.get("cpu_us_per_decision") or {}).get("server") or 0.0)
    c_rate = float(ceiling.get("calls_per_s") or ceiling.get("messages_per_s") or 0.0)
    c_cpu = float((ceiling.get("cpu_us_per_decision") or {}).get("server") or 0.0)
    return {
        "rate": rate,
        "p50_ms": float(stats.get("p50_ms") or 0.0),
        "p99_ms": float(stats.get("p99_ms") or 0.0),
        "cpu_us": cpu,
        "x_empty": rate / c_rate if c_rate else 0.0,
        "p50_minus_empty_ms": float(stats.get("p50_ms") or 0.0) - float(ceiling.get("p50_ms") or 0),
        "cpu_x_empty": cpu / c_cpu if c_cpu else 0.0,
        "degraded": float((stats.get("outcomes") or {}).get("degraded", 0)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--src", action="append", required=True, help="NAME=DIR (a server/src copy)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument(
        "--ladder",
        action="store_true",
        help="also the empty handler plus one Redis PING (bench/ladder_server.py)",
    )
    ap.add_argument("--stream", action="store_true", help="CanSendStream instead of unary")
    ns = ap.parse_args()
    versions = dict(s.split("=", 1) for s in ns.src)
    rp = RedisProcess(port=free_port())
    rp.start()
    ceiling = procs.ceiling_server(free_port())
    servers = {name: _sidecar(rp.url, src) for name, src in versions.items()}
    kinds = dict.fromkeys(servers, "mix" if ns.stream else "unary")
    if ns.ladder:
        address = f"127.0.0.1:{free_port()}"
        args = [sys.executable, "-m", "bench.ladder_server", "--address", address,
                "--redis-url", rp.url]  # fmt: skip
        servers["ping"] = procs.ServerProcess("ladder", args, address, procs.child_env())
        kinds["ping"] = "ceiling"
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        n: {c: [] for c in ns.concurrency} for n in servers
    }
    try:
        ceiling.start()
        for server in servers.values():
            server.start()
        for r in range(ns.rounds):
            for c in ns.concurrency:
                empty = _watched("ceiling", ceiling.address, c, ns.seconds, f"e{r}",
                                 {"server": ceiling.pid}, ns.stream)  # fmt: skip
                for name, server in servers.items():
                    got = _watched(kinds[name], server.address, c, ns.seconds, f"{name}{r}c{c}-",
                                   {"server": server.pid}, ns.stream)  # fmt: skip
                    results[name][c].append(_row(got, empty))
                    print(f"[{os.getloadavg()[0]:.2f}] round {r} c={c} {name}: "
                          + json.dumps({k: round(v, 3) for k, v in results[name][c][-1].items()}),
                          file=sys.stderr, flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
        ceiling.stop()
        rp.close()
    print(render(results))
    if ns.json:
        Path(ns.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _watched(
    kind: str,
    target: str,
    c: int,
    seconds: float,
    tag: str,
    watch: dict[str, int | None],
    stream: bool = False,
) -> dict[str, Any]:
    spec = {"kind": kind, "target": target, "concurrency": c, "seconds": seconds,
            "warmup_s": 0.5, "max_calls": 2_000_000, "tag": tag, "watch": watch}  # fmt: skip
    if stream:
        spec["streams"] = c
        return procs.run_client("bench.stream", spec, timeout_s=seconds + 60)
    return procs.run_client("bench.loadgen", spec, timeout_s=seconds + 60)


def render(results: dict[str, dict[int, list[dict[str, float]]]]) -> str:
    keys = ("rate", "x_empty", "p50_ms", "p50_minus_empty_ms", "p99_ms", "cpu_us", "cpu_x_empty")
    lines = ["version  c    " + "  ".join(f"{k:>20}" for k in keys) + "   (best / median)"]
    for name, by_c in results.items():
        for c, rows in by_c.items():
            cells = []
            for k in keys:
                vals = [row[k] for row in rows]
                lower = k not in ("rate", "x_empty")
                best = min(vals) if lower else max(vals)
                cells.append(f"{best:9.3f}/{statistics.median(vals):9.3f}")
            lines.append(f"{name:8} {c:<4} " + "  ".join(f"{x:>20}" for x in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
