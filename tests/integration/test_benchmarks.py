"""A benchmark that `make bench` runs still runs, end to end, in its smallest invocation: the
driver-cost benchmark builds on the scale benchmark's parts, and a change to those once left it
failing at the end of `make bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_driver_cost_benchmark_runs_and_writes_its_table(tmp_path: Path) -> None:
    command = [sys.executable, "benchmarks/driver_cost.py", "--quick", "--trials", "2"]
    command += ["--policies", "forced", "shipped", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "driver_cost.md").read_text()
    for policy in ("forced", "shipped"):  # 2 trials × 4 epochs: 8 results each
        assert f"| 2 | {policy} | 8 |" in table
    assert "## Target: ≤ 10 ms per result" in table
