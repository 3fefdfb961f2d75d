"""Fit the bulk model's weights on simulated traffic, then judge them on held-out seeds.

    pip install -e 'server[fit]'      # scikit-learn; a dev tool, CI does not install it
    python scripts/fit_bulk_model.py [--train-seeds 1 2 3] [--test-seeds 101 102]
                                     [--scale 1.0] [--days 3] [--margin 1.0] [--json FILE]

1. Runs bench/simulate.py's population on the training seeds against a sidecar whose
   detection only observes (bulk.action=flag, a threshold that never fires), reading
   the sender's features from GetAccount after each of its messages past the 10th.
   The features are read by the names the server reports, so new ones join the fit.
2. Labels them by class (adversary 1, honest 0), each class weighted equally (the
   targets are per class), and fits a logistic regression on standardised features,
   mapped back to raw weights (the sidecar scores raw features).
3. Picks the threshold: the lowest at which every honest class of the training seeds
   stays at or under 0.1 % denied (an account flagged once is denied new contacts from
   then on), plus `--margin` in logit units for traffic it has not seen.
4. Prints the weights as `[bulk]` TOML lines, runs the held-out seeds with them (as the
   started sidecar's configuration) and prints the per-class table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sim_population import ADVERSARIES, HONEST
from bench.sim_run import TARGET_HONEST, Sample, summarise, table
from bench.simulate import run_seed
from sendgate.config import BulkSettings

OBSERVE = {"bulk.action": "flag", "bulk.threshold": "0.999999"}


def weight_key(feature: str, keys: set[str]) -> str | None:
    """The config key of a feature's weight (`new_recipients_per_hour` -> weight_new_per_hour)."""
    for name in (feature, feature.replace("new_recipients_", "new_")):
        if f"weight_{name}" in keys:
            return f"weight_{name}"
    return None


def fit(samples: list[Sample], names: list[str]) -> tuple[float, list[float]]:
    """Raw-feature bias and weights; features whose weight comes out negative are dropped.

    A negative weight would let an adversary lower its score by raising that feature
    (sending more regularly, collecting reports), so the fit keeps only positive ones.
    """
    # The fit extra, imported only to fit (CI type-checks this file without it).
    import numpy as np  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: PLC0415

    x = np.array([[s.features.get(n, 0.0) for n in names] for s in samples])
    y = np.array([int(s.bad) for s in samples])
    per_class: dict[str, int] = defaultdict(int)
    for s in samples:
        per_class[s.cls] += 1
    w = np.array([1.0 / per_class[s.cls] for s in samples])
    w *= len(samples) / w.sum()
    active = list(range(len(names)))
    weights = [0.0] * len(names)
    bias = 0.0
    for _ in range(len(names)):  # bounded: one feature dropped per turn at most
        xa = x[:, active]
        mean, sd = xa.mean(axis=0), xa.std(axis=0)
        sd[sd == 0] = 1.0
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit((xa - mean) / sd, y, sample_weight=w)
        raw = model.coef_[0] / sd
        bias = float(model.intercept_[0] - (model.coef_[0] * mean / sd).sum())
        negative = [j for j, v in zip(active, raw, strict=True) if v < 0]
        weights = [0.0] * len(names)
        for j, v in zip(active, raw, strict=True):
            weights[j] = max(0.0, float(v))
        if not negative:
            break
        active = [j for j in active if j not in negative]
    return bias, weights


def score(s: Sample, names: list[str], bias: float, weights: list[float]) -> float:
    """The logit the sidecar would compute for this sample."""
    return bias + sum(w * s.features.get(n, 0.0) for n, w in zip(names, weights, strict=True))


def estimate(samples: list[Sample], logits: list[float], t: float) -> dict[str, float]:
    """Per class: share of sampled messages sent after the account's first logit >= t."""
    flagged: set[str] = set()
    hit: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for s, z in sorted(zip(samples, logits, strict=True), key=lambda p: (p[0].account, p[0].index)):
        if z >= t:
            flagged.add(s.account)
        total[s.cls] += 1
        hit[s.cls] += s.account in flagged
    return {c: hit[c] / total[c] for c in total}


def pick_threshold(samples: list[Sample], logits: list[float], margin: float) -> float:
    """The lowest logit threshold meeting the honest target in every class, plus margin."""
    honest = sorted({z for s, z in zip(samples, logits, strict=True) if not s.bad}, reverse=True)
    chosen = (honest[0] + 1e-6) if honest else 0.0
    for z in honest[:500]:  # bounded: from the top down, until a class goes over
        est = estimate(samples, logits, z)
        if any(est.get(c, 0.0) > TARGET_HONEST for c in HONEST):
            break
        chosen = z
    return chosen + margin


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--test-seeds", type=int, nargs="+", default=[101, 102])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--margin", type=float, default=1.0, help="logit units above the pick")
    ap.add_argument("--json", help="write the fit and the held-out summary here")
    ns = ap.parse_args(argv)

    samples: list[Sample] = []
    for seed in ns.train_seeds:
        samples += run_seed(seed, ns.scale, ns.days, OBSERVE, sample_features=True).samples
        print(f"seed {seed}: {len(samples)} samples so far", file=sys.stderr)
    keys = {k for k in BulkSettings.model_fields if k.startswith("weight_")}
    reported = sorted({n for s in samples for n in s.features})
    names = [n for n in reported if weight_key(n, keys)]
    unweighted = [n for n in reported if n not in names]
    if unweighted:
        print(f"features without a weight key (left out): {unweighted}", file=sys.stderr)
    bias, weights = fit(samples, names)
    logits = [score(s, names, bias, weights) for s in samples]
    t = pick_threshold(samples, logits, ns.margin)
    threshold = min(0.999, max(0.001, 1 / (1 + math.exp(-t))))
    settings = {"bulk.bias": f"{bias:.4f}", "bulk.threshold": f"{threshold:.4f}"}
    for n, w in zip(names, weights, strict=True):
        settings[f"bulk.{weight_key(n, keys)}"] = f"{w:.4f}"
    train_est = estimate(samples, logits, math.log(threshold / (1 - threshold)))

    print("[bulk]")
    for k, v in settings.items():
        print(f"{k.removeprefix('bulk.')} = {v}")
    print("\ntraining seeds, estimated from the samples (share of sampled messages after")
    print("the account's first score over the threshold):")
    for c in ADVERSARIES + HONEST:
        if c in train_est:
            print(f"  {c}: {100 * train_est[c]:.2f} %")

    outcomes = [run_seed(s, ns.scale, ns.days, settings) for s in ns.test_seeds]
    summary = summarise(outcomes)
    print(f"\nheld-out seeds {ns.test_seeds}, fitted weights, bulk.action=deny:")
    print(table(summary))
    if ns.json:
        doc: dict[str, Any] = {"settings": settings, "train_seeds": ns.train_seeds,
                               "test_seeds": ns.test_seeds, "samples": len(samples),
                               "features": names, "unweighted": unweighted,
                               "training_estimate": train_est, "held_out": summary}  # fmt: skip
        Path(ns.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
