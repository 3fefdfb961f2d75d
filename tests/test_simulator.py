"""The traffic simulator runs a small population end to end (seeded, reproducible)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_small_population(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "simulate.py"), "--scale", "0.2", "--days", "1",
         "--out", str(out)],
        check=True, capture_output=True, timeout=280, cwd=ROOT,
    )  # fmt: skip
    result = json.loads(out.read_text())
    # Every obvious abuser is stopped by detection: flagged bulk, or held by the ramp
    # before its score got there (a fresh burster of a few dozen messages).
    assert result["abusers_stopped"] == result["abusers"] > 0
    assert result["abusers_flagged"] >= result["abusers"] - 1
    assert result["spam_denied_share"] >= 0.5
    assert result["legit_wrongly_denied_share"] <= 0.01
    assert result["evaders_caught_share"] >= 0.75
    assert result["by_kind"]["ordinary"]["sent"] > 0
