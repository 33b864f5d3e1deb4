"""A finished experiment grown with `tune --resume --set search.num_samples=N`: the new trials
run in a folder of their own, TPE proposes them from every trial so far (no random start-up
again, never the first trial's start point again), ASHA prunes them against the same rungs, and
the summary and `results` list every trial once."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SMALL = [
    "--set", "train.max_epochs=4",
    "--set", "early_stopping.grace_period=1",
    "--set", "early_stopping.reduction_factor=2",
    "--set", "space.num_kernels={low: 100, high: 120}",
    "--set", "space.batch_size=128",
    "--set", "search.max_concurrent=2",
]  # fmt: skip


def _raytune_hp(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raytune_hp", *args],
        cwd=tmp, capture_output=True, text=True, timeout=400,
    )  # fmt: skip


def _tune(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = str(REPO / "configs" / "quickstart.yaml")
    return _raytune_hp(tmp, "tune", config, "--name", "grown", "--storage", str(tmp), *args)


def _recorded(exp_dir: Path) -> int:
    rungs = json.loads((exp_dir / "asha_rungs.json").read_text())["rungs"]
    return sum(len(recorded) for bracket in rungs for _, recorded in bracket)


def test_a_finished_experiment_grows_with_a_larger_budget(tmp_path: Path) -> None:
    exp_dir = tmp_path / "grown"
    first = _tune(tmp_path, *SMALL, "--set", "search.num_samples=5")
    assert first.returncode == 0, first.stderr[-3000:]
    recorded_before = _recorded(exp_dir)
    trials_before = {d.name for d in exp_dir.glob("*/") if (d / "params.json").exists()}
    assert len(trials_before) == 5

    refused = _tune(tmp_path, "--resume", "--set", "seed=3")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "except search.num_samples=N to grow the experiment" in refused.stderr

    grown = _tune(tmp_path, "--resume", "--set", "search.num_samples=8")
    assert grown.returncode == 0, grown.stderr[-3000:]
    added = sorted(d for d in (exp_dir / "more-1").glob("*/") if (d / "params.json").exists())
    assert len(added) == 3
    # The first run's trials are untouched; ASHA recorded the new trials in the same rungs.
    assert {d.name for d in exp_dir.glob("*/") if (d / "params.json").exists()} == trials_before
    assert _recorded(exp_dir) > recorded_before
    assert "num_samples: 8" in (exp_dir / "config.yaml").read_text()

    listed = _raytune_hp(tmp_path, "results", str(exp_dir))
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(rows) == 8 and len({row["trial"] for row in rows}) == 8
    assert sorted(row["phase"] for row in rows) == [
        "",
        "",
        "",
        "",
        "",
        "more-1",
        "more-1",
        "more-1",
    ]
    summary = (exp_dir / "summary.md").read_text()
    assert len(trial_table(summary)) == 1 + 8

    # Resuming again without a larger budget changes nothing.
    again = _tune(tmp_path, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (exp_dir / "more-2").exists()
