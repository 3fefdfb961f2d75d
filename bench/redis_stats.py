"""Redis's own account of function cost: INFO commandstats around one phase.

`usec_per_call` of FCALL is the time Redis spent inside the function, per call: the
part of a decision no client or sidecar change can remove. A batch call decides a
sender's whole group, so `usec_per_decision` divides by the phase's decisions too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


def _fcall(r: redis.Redis) -> dict[str, float]:
    stats = r.info("commandstats").get("cmdstat_fcall", {})
    return {
        "calls": float(stats.get("calls", 0)),
        "usec": float(stats.get("usec", 0)),
    }


def with_script_cost(port: int, phase: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `phase`; add FCALL calls and microseconds per call (and decision) in Redis."""
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        before = _fcall(r)
        result = phase()
        after = _fcall(r)
    finally:
        r.close()
    calls = after["calls"] - before["calls"]
    if calls > 0 and "error" not in result:
        usec = after["usec"] - before["usec"]
        result["redis_fcall"] = {
            "calls": int(calls),
            "usec_per_call": round(usec / calls, 1),
        }
        decisions = result.get("decisions_total")
        if isinstance(decisions, int | float) and decisions > 0:
            result["redis_fcall"]["usec_per_decision"] = round(usec / decisions, 1)
    return result
