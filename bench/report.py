"""The side-by-side table and the ratios (bench/ratios.py) of the results of one run."""

from __future__ import annotations

from typing import Any

from bench.ratios import at as _at
from bench.ratios import num as _num
from bench.ratios import ratios, server_us

__all__ = ["NOISY_PERCENT", "ratios", "render", "taint"]

# line, per s, p50, p99, p99.9, server CPU µs per decision (or call), notes
Row = tuple[str, str, str, str, str, str, str]
NOISY_PERCENT = 25.0  # CPU (% of one core) others or steal took: the phase is tainted


def _f(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"


def _load_row(name: str, d: Any, rate_key: str = "calls_per_s") -> Row:
    if not isinstance(d, dict) or not d or "error" in d or "skipped" in d:
        why = (d.get("error") or d.get("skipped") or "not run") if isinstance(d, dict) else "-"
        return (name, "-", "-", "-", "-", "-", str(why)[:60])
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
        _f(server_us(d)),
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
    for c in (1, 64):
        out.append((f"gRPC ceiling unix c={c}", _at(res.get("grpc_ceiling_unix"), c), ""))
        out.append(
            (f"sendgate CanSend unix c={c}", _at(res.get("sendgate_unary_unix"), c), "decisions")
        )
    peer = res.get("peer", {})
    lib = peer.get("library", "limits") if isinstance(peer, dict) else "limits"
    out.append((f"peer: {lib} moving window over gRPC c=64", peer, ""))
    stream = res.get("stream") or {}
    for side, label in (("ceiling", "empty CanSendStream"), ("sendgate", "sendgate CanSendStream")):
        d = stream.get(side, {})
        n = d.get("streams", "?") if isinstance(d, dict) else "?"
        out.append((f"{label} x{n} streams (messages)", d, "messages"))
    batch = res.get("sendgate_batch", {})
    conc = batch.get("concurrency", "?") if isinstance(batch, dict) else "?"
    out.append((f"sendgate CanSendBatch x100 c={conc}", batch, "decisions"))
    return out


def _rows(res: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, d, rate in _phases(res):
        row = _load_row(name, d, f"{rate}_per_s" if rate else "calls_per_s")
        if isinstance(d, dict) and "max_ms" in d:  # redis-benchmark reports no p99.9
            row = (*row[:4], f"max {_f(_num(d, 'max_ms'))}", *row[5:])
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
    head: Row = ("line", "per s", "p50 ms", "p99 ms", "p99.9 ms", "server us/dec",
                 "CPU: % of one core")  # fmt: skip
    rows = [head, *_rows(res)]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 6)]
        out.append("  ".join(cells) + (f"  {r[6]}" if r[6] else ""))
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
    out.extend(_ratio_lines(res["ratios"]))
    m = res.get("machine", {})
    out.append(
        f"machine: {m.get('nproc')} cores, {m.get('cpu_model')}, Python {m.get('python')}, "
        f"{m.get('redis_server', '').split(' sha=')[0]}; "
        f"busy before the run: {_f(m.get('busy_percent_before'))}% of one core; "
        f"sendgate {m.get('sendgate_commit')}; load average at start "
        f"{_loadavg(m.get('loadavg_at_start'))}, at end {_loadavg(m.get('loadavg_at_end'))}"
    )
    return "\n".join(out)


def _loadavg(v: Any) -> str:
    return " ".join(f"{x:.2f}" for x in v) if isinstance(v, list) else "-"


def _ratio_lines(r: dict[str, Any]) -> list[str]:
    out = ["targets (issue 12):"]
    for t in r["targets"]:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        sign = ">=" if t["floor"] else "<="
        out.append(f"  {t['what']}: {_f(t['value'])}  (target {sign} {t['target']}: {verdict})")
    per_c = ", ".join(f"{k}={_f(v)}" for k, v in r["unary_over_grpc_ceiling"].items())
    cpu_c = ", ".join(f"{k}={_f(v)}" for k, v in r["cpu_over_ceiling"].items())
    u = r["unix"]
    return [
        *out,
        f"sendgate unary / gRPC ceiling (calls/s): {per_c}",
        f"sidecar CPU per decision / empty handler CPU per call: {cpu_c}; stream "
        f"{_f(r['cpu_stream_over_ceiling_stream'])}; limits peer server c=64 "
        f"{_f(r['cpu_peer_over_ceiling_c64'])}",
        f"unix / TCP c=64 calls/s: sendgate {_f(u['sendgate_c64_unix_over_tcp'])}, empty "
        f"{_f(u['ceiling_c64_unix_over_tcp'])}; p50 unix - TCP at c=1: sendgate "
        f"{_f(u['sendgate_p50_c1_unix_minus_tcp_ms'])} ms, empty "
        f"{_f(u['ceiling_p50_c1_unix_minus_tcp_ms'])} ms",
        f"over unix: sendgate / empty c=64 {_f(u['sendgate_over_ceiling_c64_unix'])}; "
        f"p50 - empty p50 at c=1 {_f(u['sendgate_p50_c1_minus_ceiling_unix_ms'])} ms",
        "CanSendBatch decisions/s / Redis FCALL -P 16 calls/s: "
        f"{_f(r['batch_decisions_over_redis_pipelined'])}",
    ]
