"""Redis time per decision for each branch of the decision function, FCALL direct.

Each branch prepares its accounts, then sends `CALLS` FCALLs (pipelined, as the
sidecar's coalescer and batches do) and reads INFO commandstats around them:
`usec_per_call` of `fcall` is the time Redis spent inside the function. The arguments
come from `sendgate.store.redis_store.message_args` and the library from
`sendgate.store.library.build`, exactly what the sidecar sends.

    python -m bench.branches PORT
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import redis

from bench import mix as traffic
from sendgate import keys
from sendgate.config import load_settings
from sendgate.domain import AccountKind, SendRequest, Via
from sendgate.store import functions
from sendgate.store.library import FunctionLibrary, build
from sendgate.store.redis_store import message_args

CALLS = 2000
PIPELINE = 50
T0 = int(time.time() * 1000)


def _stats(r: redis.Redis) -> dict[str, tuple[float, float]]:
    """calls and usec per command; commands called inside functions are counted too."""
    raw = r.info("commandstats")
    return {
        k.removeprefix("cmdstat_"): (float(v["calls"]), float(v["usec"])) for k, v in raw.items()
    }


def _inner(
    s0: dict[str, tuple[float, float]], s1: dict[str, tuple[float, float]], n: float
) -> tuple[dict[str, float], float]:
    """Commands the function called per FCALL and their µs per FCALL (the rest of a
    call's time is Lua and FCALL's own overhead)."""
    out, usec = {}, 0.0
    for k, (c, u) in s1.items():
        c0, u0 = s0.get(k, (0.0, 0.0))
        if c > c0 and k not in ("fcall", "info"):
            out[k] = round((c - c0) / n, 2)
            usec += u - u0
    return dict(sorted(out.items())), round(usec / n, 1)


class Bench:
    def __init__(self, r: redis.Redis, lib: FunctionLibrary) -> None:
        self.r, self.lib = r, lib
        self.tag = uuid.uuid4().hex[:6]

    def fcall(self, fn: str, keys_: list[str], args: list[Any]) -> tuple[Any, ...]:
        return ("FCALL", self.lib.function(fn), len(keys_), *keys_, *args)

    def send(self, sender: str, recipient: str, mid: str, via: Via = Via.PHONE_NUMBER) -> Any:
        req = SendRequest(sender=sender, recipient=recipient, message_id=mid, via=via, at_ms=T0)
        ks = [keys.account_key(sender), keys.account_key(recipient)]
        return self.fcall("send_local", ks, [*message_args(req), sender])

    def run(self, commands: Iterator[tuple[Any, ...]], n: int) -> dict[str, float]:
        """Send `n` commands pipelined; Redis µs per call and calls/s."""
        s0 = _stats(self.r)
        t0 = time.perf_counter()
        left = n
        while left > 0:
            pipe = self.r.pipeline(transaction=False)
            for _ in range(min(PIPELINE, left)):
                pipe.execute_command(*next(commands))  # type: ignore[no-untyped-call]
            for reply in pipe.execute(raise_on_error=False):
                if isinstance(reply, Exception):
                    raise reply
            left -= PIPELINE
        wall = time.perf_counter() - t0
        s1 = _stats(self.r)
        (c0, u0), (c1, u1) = s0.get("fcall", (0.0, 0.0)), s1["fcall"]
        inner, inner_usec = _inner(s0, s1, c1 - c0)
        return {"calls": c1 - c0, "usec_per_call": round((u1 - u0) / (c1 - c0), 1),
                "commands_usec_per_call": inner_usec, "calls_per_s": round((c1 - c0) / wall),
                "commands_per_call": round(sum(inner.values()), 2), "commands": inner}  # type: ignore[dict-item]  # fmt: skip

    def setup(self, commands: Iterator[tuple[Any, ...]]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for c in commands:
            pipe.execute_command(*c)  # type: ignore[no-untyped-call]
        pipe.execute()

    def a(self, kind: str, i: int) -> str:
        return f"b-{self.tag}-{kind}-{i}"


def branches(b: Bench) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    senders = [b.a("s", i) for i in range(100)]

    def strangers(prefix: str, via: Via = Via.PHONE_NUMBER) -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            s = senders[i % len(senders)]
            yield b.send(s, b.a(prefix, i), f"{prefix}-{i}", via)

    # A sender's ordinary day: some strangers first, so keys exist (not first writes).
    b.setup(b.send(s, b.a("w", i), f"w-{i}") for i, s in enumerate(senders * 5))
    out["stranger"] = b.run(strangers("r"), CALLS)
    out["username"] = b.run(strangers("u", Via.USERNAME), CALLS)

    # Contact: a recipient the sender wrote before (counted, no reply yet).
    def contacts() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            yield b.send(senders[i % 100], b.a("w", i % 500), f"c-{i}")

    out["contact"] = b.run(contacts(), CALLS)

    # Reply inside a conversation: the recipient wrote to the sender first.
    pairs = [(senders[i % 100], b.a("p", i)) for i in range(200)]
    b.setup(b.fcall("note_inbound", [keys.account_key(s)], [T0, p]) for s, p in pairs)

    def replies() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            s, p = pairs[i % len(pairs)]
            yield b.send(s, p, f"p-{i}")

    out["reply"] = b.run(replies(), CALLS)

    # Replay: message ids already decided (the stranger phase's).
    def replays() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            yield b.send(senders[i % 100], b.a("r", i % CALLS), f"r-{i % CALLS}")

    out["replay"] = b.run(replays(), CALLS)

    # Business-initiated: verified businesses, opted-in users, a new user each time.
    bizs = [b.a("biz", i) for i in range(20)]
    up = [T0, int(AccountKind.BUSINESS), 1, 1, 0]
    b.setup(b.fcall("upsert_account", [keys.account_key(z)], up) for z in bizs)
    users = [(z, b.a(f"user{j}", i)) for j, z in enumerate(bizs) for i in range(120)]
    b.setup(b.fcall("opt_in", [keys.account_key(z)], [T0, u, 1]) for z, u in users)

    def business() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            z, u = users[i % len(users)]
            yield b.send(z, u, f"z-{i}")

    out["business_initiated"] = b.run(business(), len(users))

    # A sender flagged BULK_SUSPECTED: a burst of new recipients within a minute.
    bulk = b.a("bulk", 0)
    b.setup(b.send(bulk, b.a("bk", i), f"bk-{i}") for i in range(300))

    def flagged() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            yield b.send(bulk, b.a("bf", i), f"bf-{i}")

    out["bulk_flagged"] = b.run(flagged(), CALLS)

    # A young account on the ramp (registered an hour ago): a stranger is checked
    # against the day's budget (ZCARD, SCARD, SISMEMBER) and noted (SADD, PEXPIRE).
    young = [b.a("y", i) for i in range(100)]
    reg = [T0, int(AccountKind.PERSONAL), 0, 0, T0 - 3_600_000]
    b.setup(b.fcall("upsert_account", [keys.account_key(y)], reg) for y in young)

    def ramped() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            yield b.send(young[i % len(young)], b.a("yr", i), f"y-{i}")

    out["young_stranger"] = b.run(ramped(), CALLS)
    return out


GROUP = 100
GROUP_CALLS = 200


def groups(b: Bench) -> dict[str, dict[str, float]]:
    """send_group as CanSendBatch sends it on standalone Redis, in Redis µs per decision:
    `one_sender` (100 messages of one sender per call: new recipients, a reply every
    fourth, a repeated message_id last) and `mix` (bench/mix.py's 100-message batches,
    grouped by sender: 20 groups of 7 and 3 messages, as bench/run.py's batch phase)."""
    out: dict[str, dict[str, float]] = {}
    senders = [b.a("g", i) for i in range(50)]
    pairs = [(s, b.a("gp", i)) for i, s in enumerate(senders)]
    b.setup(b.fcall("note_inbound", [keys.account_key(s)], [T0, p]) for s, p in pairs)

    def group(s: str, reqs: list[SendRequest]) -> tuple[Any, ...]:
        ks = [keys.account_key(s), *(keys.account_key(r.recipient) for r in reqs)]
        args: list[Any] = [1, s]
        for r in reqs:
            args += message_args(r)
        return b.fcall("send_group", ks, args)

    def one_sender() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            s, peer = pairs[i % len(pairs)]
            reqs = []
            for j in range(GROUP):
                rcpt = peer if j % 4 == 1 else b.a("gr", i * GROUP + j)
                mid = f"g-{i}-{j if j < GROUP - 1 else 0}"
                reqs.append(SendRequest(sender=s, recipient=rcpt, message_id=mid, at_ms=T0 + j))
            yield group(s, reqs)

    def mixed() -> Iterator[tuple[Any, ...]]:
        for i in range(10**9):
            by: dict[str, list[SendRequest]] = {}
            for k in range(GROUP):
                m = traffic.request(b.tag, 0, i * GROUP + k)
                r = SendRequest(sender=m.sender, recipient=m.recipient,
                                message_id=m.message_id, at_ms=m.at_unix_ms)  # fmt: skip
                by.setdefault(r.sender, []).append(r)
            yield from (group(s, rs) for s, rs in by.items())

    res = b.run(one_sender(), GROUP_CALLS)
    res["usec_per_decision"] = round(res["usec_per_call"] / GROUP, 2)
    res["commands_per_decision"] = round(res["commands_per_call"] / GROUP, 2)
    out[f"group{GROUP}_one_sender"] = res
    # 20 groups per batch of GROUP messages.
    res = b.run(mixed(), GROUP_CALLS * 20)
    per_group = GROUP / 20
    res["usec_per_decision"] = round(res["usec_per_call"] / per_group, 2)
    res["commands_per_decision"] = round(res["commands_per_call"] / per_group, 2)
    out["batch_mix"] = res
    return out


def mix(res: dict[str, dict[str, float]], weights: dict[str, float]) -> float:
    """The weighted Redis µs per decision of a mix of branches."""
    total = sum(weights.values())
    return round(sum(res[k]["usec_per_call"] * w for k, w in weights.items()) / total, 1)


# bench/mix.py's realistic unary mix: most messages go to contacts and inside
# conversations, a fifth to strangers, a few are replays.
MIX = {"stranger": 0.2, "contact": 0.1, "reply": 0.6, "replay": 0.05, "username": 0.05}


def run(port: int, settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = load_settings(None, **(settings_overrides or {}))
    lib = build(settings)
    r = redis.Redis(host="127.0.0.1", port=port)
    try:
        r.function_load(lib.source, replace=True)
        r.set(functions.heartbeat_key(lib.name), 1, px=86_400_000)
        bench = Bench(r, lib)
        res = branches(bench)
        grp = groups(bench)
    finally:
        r.close()
    return {
        "library": lib.name,
        "calls_per_branch": CALLS,
        "pipeline": PIPELINE,
        "branches": res,
        "mix_weights": MIX,
        "mix_usec_per_decision": mix(res, MIX),
        "groups": grp,
    }


# Limits no branch reaches, so every branch measures its allowed path.
BIG_LIMITS: dict[str, Any] = {
    "limits": {"personal_monthly": 10**6, "business_monthly": 10**6, "username_monthly": 10**6}
}


def main(argv: list[str]) -> int:
    print(json.dumps(run(int(argv[1]), BIG_LIMITS), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
