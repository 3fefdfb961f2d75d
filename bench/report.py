"""The side-by-side table and the ratios, computed from the results dict of one run."""

from __future__ import annotations

import math
from typing import Any

Row = tuple[str, str, str, str, str, str]
NOISY_PERCENT = 25.0  # CPU (% of one core) others or steal took: the phase is tainted


def _num(d: Any, key: str) -> float | None:
    if isinstance(d, dict) and isinstance(d.get(key), int | float):
        value = float(d[key])
        return None if math.isnan(value) else value
    return None


def _at(rows: Any, concurrency: int) -> dict[str, Any]:
    """The row of a per-concurrency list at `concurrency` ({} when absent or failed)."""
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and row.get("concurrency") == concurrency:
            return row
    return {}


def _div(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _pipelined(res: dict[str, Any]) -> dict[str, Any]:
    runs = res.get("redis_ceiling", {}).get("runs", [])
    return next((r for r in runs if r.get("pipeline") == 16), {})


def ratios(res: dict[str, Any]) -> dict[str, Any]:
    ceiling, unary = res.get("grpc_ceiling"), res.get("sendgate_unary")
    per_c = {
        f"c{c}": _div(_num(_at(unary, c), "decisions_per_s"), _num(_at(ceiling, c), "calls_per_s"))
        for c in (1, 8, 64)
    }
    p50_sg, p50_ceil = _num(_at(unary, 1), "p50_ms"), _num(_at(ceiling, 1), "p50_ms")
    return {
        "unary_over_grpc_ceiling": per_c,
        "p99_c8_over_ceiling_p99": _div(
            _num(_at(unary, 8), "p99_ms"), _num(_at(ceiling, 8), "p99_ms")
        ),
        "p50_c1_minus_ceiling_p50_ms": (
            round(p50_sg - p50_ceil, 3) if p50_sg is not None and p50_ceil is not None else None
        ),
        "batch_decisions_over_redis_pipelined": _div(
            _num(res.get("sendgate_batch"), "decisions_per_s"),
            _num(_pipelined(res), "calls_per_s"),
        ),
        "unary_c64_over_peer": _div(
            _num(_at(unary, 64), "decisions_per_s"), _num(res.get("peer"), "calls_per_s")
        ),
    }


def _f(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def _load_row(name: str, d: Any, rate_key: str = "calls_per_s") -> Row:
    if not isinstance(d, dict) or "error" in d or "skipped" in d:
        why = d.get("error") or d.get("skipped") if isinstance(d, dict) else "not run"
        return (name, "-", "-", "-", "-", str(why)[:60])
    notes = [f"errors {d['errors']}"] if d.get("errors") else []
    cpu = d.get("cpu_percent") or {}
    if cpu:
        shown = {k: v for k, v in cpu.items() if k != "machine"}
        notes.append(" ".join(f"{k} {v:.0f}" for k, v in shown.items()))
    script = d.get("redis_fcall") or {}
    if script:
        per = script.get("usec_per_decision", script["usec_per_call"])
        notes.append(f"in Redis {per:.0f} us/decision")
    degraded = (d.get("outcomes") or {}).get("degraded")
    if degraded:
        notes.append(f"{degraded} degraded (Redis budget missed)")
    note = "; ".join(notes)
    return (
        name,
        _f(_num(d, rate_key)),
        _f(_num(d, "p50_ms")),
        _f(_num(d, "p99_ms")),
        _f(_num(d, "p999_ms")),
        note,
    )


def _phases(res: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(table name, phase results, the rate to show) for every load line, in order."""
    out: list[tuple[str, Any, str]] = []
    for c in (1, 8, 64):
        out.append((f"gRPC ceiling (empty handler) c={c}", _at(res.get("grpc_ceiling"), c), ""))
    red = res.get("redis_ceiling", {})
    for run in red.get("runs", []) if isinstance(red, dict) else []:
        name = f"Redis can_send FCALL -P {run['pipeline']} (-c {run['clients']})"
        out.append((name, run, ""))
    if not isinstance(red, dict) or "runs" not in red:
        out.append(("Redis can_send FCALL", red, ""))
    for c in (1, 8, 64):
        out.append((f"sendgate CanSend c={c}", _at(res.get("sendgate_unary"), c), "decisions"))
    batch = res.get("sendgate_batch", {})
    conc = batch.get("concurrency", "?") if isinstance(batch, dict) else "?"
    out.append((f"sendgate CanSendBatch x100 c={conc}", batch, "decisions"))
    out.append(("peer: limits moving window c=64", res.get("peer", {}), ""))
    return out


def _rows(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, d, rate in _phases(res):
        row = _load_row(name, d, "decisions_per_s" if rate else "calls_per_s")
        if isinstance(d, dict) and "max_ms" in d:  # redis-benchmark reports no p99.9
            row = (*row[:4], f"max {_f(_num(d, 'max_ms'))}", row[5])
        rows.append(row)
    return rows


def taint(cpu: dict[str, float]) -> float:
    """CPU the benchmark did not get: other processes' share plus the hypervisor's steal."""
    return float(cpu.get("others", 0.0)) + float(cpu.get("steal", 0.0))


def _noisy(res: dict[str, Any]) -> list[str]:
    """Lines during which others or the hypervisor took a noticeable share of the CPU."""
    return [
        name
        for name, d, _ in _phases(res)
        if isinstance(d, dict) and taint(d.get("cpu_percent") or {}) > NOISY_PERCENT
    ]


def _memory_lines(mem: dict[str, Any]) -> list[str]:
    s, b = mem.get("sender", {}), mem.get("business", {})
    lines = []
    if "error" in s:
        lines.append(f"memory per active sender: error: {s['error']}")
    elif s:
        lines.append(
            f"memory per active sender: {s['bytes_per_sender_own_keys']:,} B own keys, "
            f"{s['bytes_per_sender_incl_contacts']:,} B incl. contacts' keys "
            f"({s['senders']} senders)"
        )
    if b.get("status") == "ok":
        lines.append(
            f"memory per business, {b['users']:,} users in 24 h: "
            f"{b['business_bytes'] / 1e6:,.1f} MB own keys "
            f"({b['business_bytes_per_user']} B/user), Redis total "
            f"{b['redis_delta_bytes'] / 1e6:,.1f} MB incl. users' keys and the tier climb"
        )
    elif b:
        lines.append(f"memory per 100K business: {b.get('status') or b.get('error')}")
    return lines


def _branch_lines(br: Any) -> list[str]:
    """Redis µs per decision, per branch and on the mix (bench/branches.py)."""
    if not isinstance(br, dict) or "branches" not in br:
        return [f"Redis per branch: {br}"] if br else []
    shown = ", ".join(f"{k} {v['usec_per_call']:.0f}" for k, v in br["branches"].items())
    return [
        f"Redis us per decision (FCALL, commandstats): {shown}; "
        f"mix {br['mix_usec_per_decision']:.0f}"
    ]


def render(res: dict[str, Any]) -> str:
    head: Row = ("line", "per s", "p50 ms", "p99 ms", "p99.9 ms", "CPU: % of one core")
    rows = [head, *_rows(res)]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 5)]
        out.append("  ".join(cells) + (f"  {r[5]}" if r[5] else ""))
    out.insert(1, "-" * len(out[0]))
    noisy = _noisy(res)
    if noisy:
        out.append(
            f"warning: other processes or the hypervisor (steal) took over "
            f"{NOISY_PERCENT:.0f}% of a core during: "
            + ", ".join(noisy)
            + " (their figures are low; rerun on a quiet machine)"
        )
    out.append("")
    out.extend(_branch_lines(res.get("redis_branches")))
    out.extend(_memory_lines(res.get("memory", {})))
    out.append("")
    r = res["ratios"]
    per_c = ", ".join(f"{k}={_f(v)}" for k, v in r["unary_over_grpc_ceiling"].items())
    out.append(f"sendgate unary / gRPC ceiling (calls/s): {per_c}")
    out.append(f"sendgate p99 / ceiling p99 at c=8: {_f(r['p99_c8_over_ceiling_p99'])}")
    out.append(f"sendgate p50 - ceiling p50 at c=1: {_f(r['p50_c1_minus_ceiling_p50_ms'])} ms")
    out.append(
        "CanSendBatch decisions/s / Redis FCALL -P 16 calls/s: "
        f"{_f(r['batch_decisions_over_redis_pipelined'])}"
    )
    out.append(f"sendgate CanSend c=64 / peer (limits) c=64: {_f(r['unary_c64_over_peer'])}")
    m = res.get("machine", {})
    out.append(
        f"machine: {m.get('nproc')} cores, {m.get('cpu_model')}, Python {m.get('python')}, "
        f"{m.get('redis_server', '').split(' sha=')[0]}; "
        f"busy before the run: {_f(m.get('busy_percent_before'))}% of one core; "
        f"sendgate {m.get('sendgate_commit')}"
    )
    return "\n".join(out)
