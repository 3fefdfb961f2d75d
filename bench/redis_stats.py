"""Redis's own account of script cost: INFO commandstats around one phase.

`usec_per_call` of EVALSHA is the time Redis spent inside the script, per call: the
part of a decision no client or sidecar change can remove.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


def _evalsha(r: redis.Redis) -> dict[str, float]:
    stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return {
        "calls": float(stats.get("calls", 0)),
        "usec": float(stats.get("usec", 0)),
    }


def with_script_cost(port: int, phase: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `phase`; add EVALSHA calls and microseconds per call inside Redis."""
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        before = _evalsha(r)
        result = phase()
        after = _evalsha(r)
    finally:
        r.close()
    calls = after["calls"] - before["calls"]
    if calls > 0 and "error" not in result:
        result["redis_evalsha"] = {
            "calls": int(calls),
            "usec_per_call": round((after["usec"] - before["usec"]) / calls, 1),
        }
    return result
