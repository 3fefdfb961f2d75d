"""Traffic simulator: a synthetic population against a real sidecar, and what it caught.

    python bench/simulate.py [--seeds 101 102] [--scale 1.0] [--days 3] [--json]
                             [--set bulk.threshold=0.9 ...] [--out FILE]

Starts its own redis-server and `sendgate serve` (loopback, client time on) per seed,
with `--set` keys as its configuration (environment), unless `--target` names a running
sidecar started with --allow-client-time and an HMAC key. Everything is driven in
simulated time through `at_unix_ms`; seeds are fixed, so a run is reproducible.

Classes (bench/sim_population.py), each account with randomised parameters:
adversaries — blasters, bots, fresh bursters, small-account farms, hijacked established
accounts, slow drips, weak-match ban evaders (REVIEW, then they send); honest —
ordinary people, teachers writing a class of parents on day one, event organizers with
an approved exception, reconnectors after a new phone, small businesses with opted-in
customers, and everyone's replies; registration crowds — honest sign-ups behind a shared
network (campuses) and farms' sign-ups behind one network (velocity). Reports per
class: share of adversary messages denied after each account's first 10, share of
honest messages denied, and evaders denied (strong match) or sent to review (weak
match) at registration, beside the targets (>= 95 %, <= 0.1 %, >= 90 %), and the
crowds' sign-ups sent to review (honest: <= 1 %; farms after their first 10: reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_population import ADVERSARIES, HONEST, build
from bench.sim_run import Outcome, run, start_sidecar, summarise, table
from sendgate.embedded_redis import RedisProcess, free_port

# Held-out seeds by default: scripts/fit_bulk_model.py trains on others (1..n).
DEFAULT_SEEDS = (101, 102)
LEGACY = ("blaster", "bot", "fresh")
LEGACY_HONEST = ("ordinary", "business", "reply")


def run_seed(
    seed: int,
    scale: float,
    days: int,
    settings: dict[str, str],
    target: str | None = None,
    sample_features: bool = False,
) -> Outcome:
    """One seed against a fresh Redis and sidecar (or `target`)."""
    pop = build(random.Random(seed), scale, days)
    redis_proc = proc = None
    try:
        if target is None:
            redis_proc = RedisProcess(port=free_port())
            redis_proc.start()
            proc, target = start_sidecar(redis_proc.url, settings)
        return asyncio.run(
            run(target, pop, random.Random(seed + 1), seed=seed, sample_features=sample_features)
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        if redis_proc is not None:
            redis_proc.close()


def legacy_figures(outcomes: list[Outcome]) -> dict[str, object]:
    """The first simulator's pooled figures, over its own classes only (the table has all)."""
    spam = [(o.sent[c], o.denied[c]) for o in outcomes for c in LEGACY]
    legit = [(o.sent[c], o.denied[c]) for o in outcomes for c in LEGACY_HONEST]
    abusers = sum(len(o.accounts[c]) for o in outcomes for c in LEGACY)
    flagged = sum(1 for o in outcomes for a in o.flagged_at if o.classes[a] in LEGACY)
    stopped = sum(1 for o in outcomes for a in o.stopped_at if o.classes[a] in LEGACY)
    regs = [o.registrations[k] for o in outcomes for k in ("strong", "weak")]
    total = sum(sum(r.values()) for r in regs)
    caught = sum(r.get("DENY", 0) + r.get("REVIEW", 0) for r in regs)
    return {
        "messages": sum(sum(o.sent.values()) for o in outcomes),
        "by_kind": {
            c: {
                "sent": sum(o.sent[c] for o in outcomes),
                "denied": sum(o.denied[c] for o in outcomes),
            }
            for c in ADVERSARIES + HONEST
        },
        "spam_denied_share": round(sum(d for _, d in spam) / max(1, sum(s for s, _ in spam)), 4),
        "legit_wrongly_denied_share": round(
            sum(d for _, d in legit) / max(1, sum(s for s, _ in legit)), 5
        ),
        "abusers": abusers,
        "abusers_flagged": flagged,
        "abusers_stopped": stopped,
        "evaders": total,
        "evaders_caught_share": round(caught / max(1, total), 4),
    }


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """`key=value` pairs (config keys such as bulk.weight_takeover) into a dict."""
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set wants key=value, got {p!r}")
        out[key.strip()] = value.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="accounts per class factor")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    ap.add_argument("--seed", type=int, help="one seed (the same as --seeds N)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="configuration of the started sidecar, e.g. bulk.threshold=0.9",
    )
    ap.add_argument("--target", help="a running sidecar (else one is started per seed)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--out", default="bench/results/simulation.json")
    ns = ap.parse_args(argv)
    seeds = [ns.seed] if ns.seed is not None else ns.seeds
    settings = parse_settings(ns.set)
    outcomes = [run_seed(s, ns.scale, ns.days, settings, ns.target) for s in seeds]
    summary = summarise(outcomes)
    result = {
        **legacy_figures(outcomes),
        **summary,
        "seeds": seeds,
        "scale": ns.scale,
        "days": ns.days,
        "settings": settings,
    }
    out = Path(ns.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"seeds {seeds}, scale {ns.scale}, {ns.days} days, {result['messages']} messages"
            + (f", settings {settings}" if settings else "")
        )
        print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
