"""The ratios of one run's results, and issue 12's targets checked against them.

Every ratio divides two phases of the same run, measured back to back, so machine
load drifting over the run moves both sides together.
"""

from __future__ import annotations

import math
from typing import Any

# (key in ratios, what it compares, target, True when the target is a floor)
TARGETS: tuple[tuple[str, str, float, bool], ...] = (
    ("unary_c64_over_ceiling", "sendgate CanSend c=64 / empty handler c=64 (calls/s)", 0.85,
     True),
    ("p50_c1_minus_ceiling_p50_ms", "sendgate p50 - empty p50 at c=1 (ms)", 0.15, False),
    ("p99_c8_over_ceiling_p99", "sendgate p99 / empty p99 at c=8", 1.5, False),
    ("unary_c64_over_peer", "sendgate c=64 / limits peer over gRPC c=64", 1.5, True),
    ("stream_over_ceiling_stream", "sendgate CanSendStream / empty stream (messages/s)", 0.5,
     True),
    ("cpu_c64_over_ceiling", "sidecar CPU per decision / empty handler CPU per call, c=64",
     1.3, False),
)  # fmt: skip


def num(d: Any, key: str) -> float | None:
    if isinstance(d, dict) and isinstance(d.get(key), int | float):
        value = float(d[key])
        return None if math.isnan(value) else value
    return None


def at(rows: Any, concurrency: int) -> dict[str, Any]:
    """The row of a per-concurrency list at `concurrency` ({} when absent or failed)."""
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("concurrency") == concurrency and "error" not in row:
            return row
    return {}


def div(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def minus(a: float | None, b: float | None) -> float | None:
    return round(a - b, 3) if a is not None and b is not None else None


def server_us(d: Any) -> float | None:
    """CPU µs the server process (its PID only) used per decision, or per call."""
    return num(d.get("cpu_us_per_decision") if isinstance(d, dict) else None, "server")


def rate(d: Any) -> float | None:
    """Decisions/s (sendgate, degraded answers left out), calls/s or messages/s."""
    for key in ("decisions_per_s", "messages_per_s", "calls_per_s"):
        if (v := num(d, key)) is not None:
            return v
    return None


def _pipelined(res: dict[str, Any]) -> dict[str, Any]:
    runs = res.get("redis_ceiling", {}).get("runs", [])
    return next((r for r in runs if r.get("pipeline") == 16), {})


def _pair(sg: Any, ceil: Any, c: int) -> dict[str, float | None]:
    """sendgate against the empty handler at one concurrency: rate, p50, p99, CPU."""
    s, e = at(sg, c), at(ceil, c)
    return {
        "rate": div(rate(s), rate(e)),
        "p50_minus_ms": minus(num(s, "p50_ms"), num(e, "p50_ms")),
        "p99_over": div(num(s, "p99_ms"), num(e, "p99_ms")),
        "cpu_over": div(server_us(s), server_us(e)),
    }


def _unix(res: dict[str, Any]) -> dict[str, Any]:
    """Unix socket against TCP loopback, for sendgate and for the empty handler."""
    out: dict[str, Any] = {}
    for name, tcp, unix in (
        ("sendgate", res.get("sendgate_unary"), res.get("sendgate_unary_unix")),
        ("ceiling", res.get("grpc_ceiling"), res.get("grpc_ceiling_unix")),
    ):
        out[f"{name}_c64_unix_over_tcp"] = div(rate(at(unix, 64)), rate(at(tcp, 64)))
        out[f"{name}_p50_c1_unix_minus_tcp_ms"] = minus(
            num(at(unix, 1), "p50_ms"), num(at(tcp, 1), "p50_ms")
        )
        out[f"{name}_cpu_c64_unix_over_tcp"] = div(server_us(at(unix, 64)), server_us(at(tcp, 64)))
    over = _pair(res.get("sendgate_unary_unix"), res.get("grpc_ceiling_unix"), 64)
    out["sendgate_over_ceiling_c64_unix"] = over["rate"]
    out["sendgate_p50_c1_minus_ceiling_unix_ms"] = _pair(
        res.get("sendgate_unary_unix"), res.get("grpc_ceiling_unix"), 1
    )["p50_minus_ms"]
    return out


def ratios(res: dict[str, Any]) -> dict[str, Any]:
    ceiling, unary = res.get("grpc_ceiling"), res.get("sendgate_unary")
    pairs = {c: _pair(unary, ceiling, c) for c in (1, 8, 64)}
    stream = res.get("stream") or {}
    out: dict[str, Any] = {
        "unary_over_grpc_ceiling": {f"c{c}": p["rate"] for c, p in pairs.items()},
        "unary_c64_over_ceiling": pairs[64]["rate"],
        "p50_c1_minus_ceiling_p50_ms": pairs[1]["p50_minus_ms"],
        "p99_c8_over_ceiling_p99": pairs[8]["p99_over"],
        "unary_c64_over_peer": div(rate(at(unary, 64)), rate(res.get("peer"))),
        "stream_over_ceiling_stream": div(
            rate(stream.get("sendgate")), rate(stream.get("ceiling"))
        ),
        "cpu_over_ceiling": {f"c{c}": p["cpu_over"] for c, p in pairs.items()},
        "cpu_c64_over_ceiling": pairs[64]["cpu_over"],
        "cpu_stream_over_ceiling_stream": div(
            server_us(stream.get("sendgate")), server_us(stream.get("ceiling"))
        ),
        "cpu_peer_over_ceiling_c64": div(server_us(res.get("peer")), server_us(at(ceiling, 64))),
        "unix": _unix(res),
        "batch_decisions_over_redis_pipelined": div(
            num(res.get("sendgate_batch"), "decisions_per_s"),
            num(_pipelined(res), "calls_per_s"),
        ),
    }
    out["targets"] = [
        {"ratio": key, "what": what, "value": out[key], "target": target,
         "floor": floor, "met": None if out[key] is None else
         (out[key] >= target if floor else out[key] <= target)}
        for key, what, target, floor in TARGETS
    ]  # fmt: skip
    return out
