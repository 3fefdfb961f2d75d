"""Redis bytes per active sender and per 100K business, measured from outside.

The traffic runs in a client process (bench/memory_load.py) against the sidecar; this
side reads INFO memory before and after, and MEMORY USAGE (SAMPLES 0: exact, not an
estimate from five elements) of every key of one sample account.
"""

from __future__ import annotations

from typing import Any

import redis

from bench.procs import run_client
from sendgate import keys


def _used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def account_keys_bytes(r: redis.Redis, account: str) -> dict[str, int]:
    """MEMORY USAGE of every key of `account` (they share its base prefix)."""
    base = keys.account_base(account)
    pattern = "".join("\\" + c if c in "\\*?[]" else c for c in base) + "*"
    found: dict[str, int] = {}
    for key in r.scan_iter(match=pattern, count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        found[name.removeprefix(base)] = int(r.memory_usage(key, samples=0) or 0)
    return dict(sorted(found.items()))


def per_sender(r: redis.Redis, target: str, senders: int, max_s: float) -> dict[str, Any]:
    before = _used(r)
    load = run_client(
        "bench.memory_load",
        {"kind": "sender", "target": target, "senders": senders, "max_seconds": max_s},
        timeout_s=max_s + 60,
    )
    delta = _used(r) - before
    sample = account_keys_bytes(r, str(load["sample"]))
    return {
        "senders": senders,
        "month": "20 new contacts (5 reply), 60 messages inside conversations",
        "bytes_per_sender_incl_contacts": round(delta / senders),
        "sample_sender_keys": sample,
        "bytes_per_sender_own_keys": sum(sample.values()),
    }


def per_business(r: redis.Redis, target: str, users: int, max_s: float) -> dict[str, Any]:
    biz = f"bench-biz-{users}"
    before = _used(r)
    load = run_client(
        "bench.memory_load",
        {"kind": "business", "target": target, "business": biz, "users": users,
         "max_seconds": max_s},
        timeout_s=max_s + 60,
    )  # fmt: skip
    if load.get("status") != "ok":
        return {"status": load.get("status", "unknown"), "users": users}
    own = account_keys_bytes(r, biz)
    total_users = users + int(load["climb_users"])
    return {
        **load,
        "business_keys": own,
        "business_bytes": sum(own.values()),
        "business_bytes_per_user": round(sum(own.values()) / users),
        # Includes each user's side (the business wrote to them: their `in` note).
        "redis_delta_bytes": _used(r) - before,
        "redis_delta_bytes_per_user": round((_used(r) - before) / total_users),
    }
