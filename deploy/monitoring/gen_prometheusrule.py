#!/usr/bin/env python3
"""Generate prometheusrule.yaml (the Prometheus Operator CRD) from rules.yaml.

rules.yaml is the source of truth: a plain Prometheus rule file that promtool
checks and tests. The PrometheusRule carries the same groups under `spec:`.
The text is copied, indented, so comments and block scalars survive.

    python3 deploy/monitoring/gen_prometheusrule.py          # write
    python3 deploy/monitoring/gen_prometheusrule.py --check  # exit 1 if stale
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "rules.yaml"
TARGET = HERE / "prometheusrule.yaml"

HEADER = """\
# GENERATED from rules.yaml by gen_prometheusrule.py: edit rules.yaml, then run
#   python3 deploy/monitoring/gen_prometheusrule.py
# (scripts/validate_deploy.sh fails when this file is stale).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: sendgate
  labels:
    app.kubernetes.io/name: sendgate
    # Most Prometheus Operator installs select rules by a label such as
    # "release" or "prometheus"; add yours in an overlay.
spec:
"""


def render() -> str:
    lines = SOURCE.read_text().splitlines()
    # Drop the leading comment block (it describes rules.yaml itself).
    start = next(i for i, line in enumerate(lines) if line and not line.startswith("#"))
    body = [("  " + line) if line.strip() else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


def same_groups(text: str) -> bool:
    """The CRD's spec.groups equal rules.yaml's groups (parsed, not just text)."""
    try:
        import yaml  # noqa: PLC0415 (optional: the text check stands alone)
    except ImportError:  # the text comparison alone still holds
        return True
    crd = yaml.safe_load(text)
    plain = yaml.safe_load(SOURCE.read_text())
    return bool(crd["spec"]["groups"] == plain["groups"])


def main(argv: list[str]) -> int:
    text = render()
    if not same_groups(text):
        print("gen_prometheusrule: generated groups differ from rules.yaml", file=sys.stderr)
        return 1
    if "--check" in argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        if current != text:
            print(
                f"{TARGET.name} is stale: run python3 deploy/monitoring/gen_prometheusrule.py",
                file=sys.stderr,
            )
            return 1
        print(f"{TARGET.name} matches rules.yaml")
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
