"""Traffic simulator: a synthetic population against a real sidecar, and what it caught.

    python bench/simulate.py [--scale 1.0] [--days 3] [--seed 7] [--out FILE]

Starts its own redis-server and `sendgate serve` (loopback, client time on) unless
`--target` names a running sidecar started with --allow-client-time and an HMAC key.
Everything is driven in simulated time through `at_unix_ms`; seeds are fixed, so a
run is reproducible. Reports: share of spam denied, share of legitimate messages wrongly
denied, median time (messages, simulated minutes) to flag each abuser, and share of ban
evaders caught at registration.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import statistics
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc

from sendgate.embedded_redis import RedisProcess, free_port
from sendgate.v1 import sendgate_pb2 as pb
from sendgate.v1 import sendgate_pb2_grpc as pb_grpc

START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
HMAC_KEY = "simulation-key"
ABUSERS = ("blaster", "bot", "fresh")


@dataclass(order=True)
class Msg:
    at: int
    sender: str = field(compare=False)
    recipient: str = field(compare=False)
    kind: str = field(compare=False)  # who sends: ordinary, business, blaster, bot, fresh
    reply_p: float = field(compare=False, default=0.0)  # chance the recipient answers


@dataclass
class Population:
    messages: list[Msg]
    businesses: dict[str, list[str]]  # business -> opted-in customers
    registered: dict[str, int]  # account -> registered_at
    evaders: list[tuple[str, list[str], list[str]]]  # (old, ban identifiers, new identifiers)


def build(rng: random.Random, scale: float, days: int) -> Population:
    n = max(1, round(scale))
    msgs: list[Msg] = []
    people = [f"person-{i}" for i in range(max(10, round(120 * scale)))]
    for p in people:  # friends write back; a few new contacts a day
        friends = rng.sample([q for q in people if q != p], 6)
        for d in range(days):
            for _ in range(rng.randint(4, 12)):
                at = START + d * DAY + rng.randint(8 * HOUR, 22 * HOUR)
                msgs.append(Msg(at, p, rng.choice(friends), "ordinary", 0.9))
            if rng.random() < 0.6:
                new = f"contact-{p}-{d}"
                msgs.append(Msg(START + d * DAY + rng.randint(9 * HOUR, 20 * HOUR), p, new,
                                "ordinary", 0.5))  # fmt: skip
    businesses: dict[str, list[str]] = {}
    for b in range(max(1, round(4 * scale))):
        name = f"shop-{b}"
        customers = [f"customer-{b}-{c}" for c in range(30)]
        businesses[name] = customers
        for d in range(days):
            for c in rng.sample(customers, 15):  # daily offers to opted-in customers
                msgs.append(Msg(START + d * DAY + 10 * HOUR + rng.randint(0, HOUR), name, c,
                                "business", 0.3))  # fmt: skip
    registered: dict[str, int] = {}
    for i in range(3 * n):  # blasters: hundreds of strangers a day, irregular bursts
        s, at = f"blaster-{i}", START + rng.randint(0, 6 * HOUR)
        registered[s] = START - 30 * DAY
        for k in range(300 * days):
            at += rng.randint(2_000, 40_000)
            msgs.append(Msg(at, s, f"target-{s}-{k}", "blaster"))
    for i in range(3 * n):  # bots: a new stranger every 90 s, to the millisecond
        s, at = f"bot-{i}", START + rng.randint(0, 6 * HOUR)
        registered[s] = START - 30 * DAY
        for k in range(int(DAY / 90_000) * days // 4):
            msgs.append(Msg(at + k * 90_000, s, f"target-{s}-{k}", "bot"))
    for i in range(3 * n):  # fresh accounts bursting right after registration
        s, at = f"fresh-{i}", START + rng.randint(0, days * DAY - 2 * HOUR)
        registered[s] = at
        for k in range(60):
            at += rng.randint(5_000, 60_000)
            msgs.append(Msg(at, s, f"target-{s}-{k}", "fresh"))
    evaders = []
    for i in range(max(4, round(20 * scale))):
        ids = [f"device:dev-{i}", f"payment:card-{i}", f"network:net-{i}"]
        roll = rng.random()  # what the evader managed to change before re-registering
        if roll < 0.5:
            new_ids = [ids[0], f"network:net-new-{i}"]  # same phone
        elif roll < 0.75:
            new_ids = [f"device:dev-new-{i}", ids[2]]  # new phone, same network
        elif roll < 0.9:
            new_ids = [f"device:dev-new-{i}", ids[1]]  # new phone, same card
        else:
            new_ids = [f"device:dev-new-{i}", f"network:net-new-{i}"]  # all new
        evaders.append((f"banned-{i}", ids, new_ids))
    msgs.sort()
    return Population(msgs, businesses, registered, evaders)


async def run(target: str, pop: Population, rng: random.Random) -> dict[str, object]:
    async with grpc.aio.insecure_channel(target) as ch:
        sg, admin = pb_grpc.SendGateStub(ch), pb_grpc.SendGateAdminStub(ch)
        for b, customers in pop.businesses.items():
            await admin.UpsertAccount(pb.UpsertAccountRequest(
                account=b, kind=pb.BUSINESS, business_verified=True, at_unix_ms=START))  # fmt: skip
            for c in customers:
                await sg.RecordOptIn(pb.RecordOptInRequest(business=b, user=c, opted_in=True,
                                                           at_unix_ms=START))  # fmt: skip
        for acct, reg in pop.registered.items():
            await admin.UpsertAccount(pb.UpsertAccountRequest(
                account=acct, kind=pb.PERSONAL, registered_at=reg, at_unix_ms=START))  # fmt: skip
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # kind -> [sent, denied]
        first_seen: dict[str, int] = {}
        flagged: dict[str, tuple[int, int]] = {}  # abuser -> (messages until flag, minutes)
        count: dict[str, int] = defaultdict(int)
        queue: list[Msg] = list(pop.messages)
        heapq.heapify(queue)
        seq = 0
        while queue:
            m = heapq.heappop(queue)
            seq += 1
            r = await sg.CanSend(pb.CanSendRequest(
                sender=m.sender, recipient=m.recipient, message_id=f"sim-{seq}",
                at_unix_ms=m.at))  # fmt: skip
            totals[m.kind][0] += 1
            if r.decision == pb.DENY:
                totals[m.kind][1] += 1
            if m.kind in ABUSERS:
                first_seen.setdefault(m.sender, m.at)
                count[m.sender] += 1
                if m.sender not in flagged and (
                    pb.BULK_SUSPECTED in r.usage.flags or r.reason == pb.SUSPECTED_BULK
                ):
                    flagged[m.sender] = (count[m.sender], (m.at - first_seen[m.sender]) // MIN)
            elif r.decision == pb.ALLOW and rng.random() < m.reply_p:
                # The recipient answers some minutes later (a legitimate message too).
                heapq.heappush(queue, Msg(m.at + rng.randint(MIN, 3 * HOUR), m.recipient,
                                          m.sender, "ordinary", 0.7))  # fmt: skip
        caught = 0
        outcomes: dict[str, int] = defaultdict(int)
        for old, ids, new_ids in pop.evaders:
            ban = pb.BanAccountRequest(
                account=old, reason="bulk", identifiers=ids, at_unix_ms=START
            )
            await admin.BanAccount(ban)
            resp = await sg.CheckRegistration(pb.CheckRegistrationRequest(
                account=f"{old}-again", identifiers=new_ids, at_unix_ms=START + DAY))  # fmt: skip
            outcomes[pb.Decision.Name(resp.decision)] += 1
            caught += resp.decision in (pb.DENY, pb.REVIEW)
    abusers = {s for m in pop.messages if m.kind in ABUSERS for s in [m.sender]}
    spam = [totals[k] for k in ABUSERS]
    legit = [totals[k] for k in ("ordinary", "business")]
    msgs_to_flag = [v[0] for v in flagged.values()]
    mins_to_flag = [v[1] for v in flagged.values()]
    return {
        "messages": sum(v[0] for v in totals.values()),
        "by_kind": {k: {"sent": v[0], "denied": v[1]} for k, v in sorted(totals.items())},
        "spam_denied_share": round(sum(d for _, d in spam) / max(1, sum(s for s, _ in spam)), 4),
        "legit_wrongly_denied_share": round(
            sum(d for _, d in legit) / max(1, sum(s for s, _ in legit)), 5
        ),
        "abusers": len(abusers),
        "abusers_flagged": len(flagged),
        "median_messages_to_flag": statistics.median(msgs_to_flag) if msgs_to_flag else None,
        "median_minutes_to_flag": statistics.median(mins_to_flag) if mins_to_flag else None,
        "evaders": len(pop.evaders),
        "evaders_caught_share": round(caught / max(1, len(pop.evaders)), 4),
        "evader_decisions": dict(outcomes),
    }


def start_sidecar(redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, SENDGATE_BAN_EVASION__HMAC_KEY=HMAC_KEY, SENDGATE_LOG_LEVEL="ERROR")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendgate", "serve", "--redis-url", redis_url,
         "--grpc-address", f"127.0.0.1:{port}", "--metrics-address", "127.0.0.1:0",
         "--allow-client-time"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    channel.close()
    return proc, f"127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="population size factor")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--target", help="a running sidecar (else one is started)")
    ap.add_argument("--out", default="bench/results/simulation.json")
    ns = ap.parse_args(argv)
    pop = build(random.Random(ns.seed), ns.scale, ns.days)
    redis_proc = proc = None
    target = ns.target
    try:
        if target is None:
            redis_proc = RedisProcess(port=free_port())
            redis_proc.start()
            proc, target = start_sidecar(redis_proc.url)
        result = asyncio.run(run(target, pop, random.Random(ns.seed + 1)))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        if redis_proc is not None:
            redis_proc.close()
    result.update(seed=ns.seed, scale=ns.scale, days=ns.days)
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
