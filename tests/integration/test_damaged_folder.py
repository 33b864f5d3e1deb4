"""A folder whose newest experiment state was cut off (a copy interrupted, a disk filled under
an older raytune-hp): `report` reports every trial and names the damaged file, and `--resume`
goes on from the newest whole state, with every finished trial still in the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from raytune_hp.storage_faults import DAMAGED_SUFFIX
from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLES = 3


def _raytune_hp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raytune_hp", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_cut_off_newest_state_is_reported_and_resumed_from_the_whole_one(
    tmp_path: Path,
) -> None:
    config = str(REPO / "configs" / "custom_function.yaml")
    where = ["--name", "cut", "--storage", str(tmp_path)]
    small = ["--set", f"search.num_samples={SAMPLES}", "--set", "train.max_epochs=3"]
    first = _raytune_hp("tune", config, *where, *small, "--set", "early_stopping.name=none")
    assert first.returncode == 0, first.stderr[-2000:]
    again = _raytune_hp("tune", config, *where, "--resume")  # a second session, a second state
    assert again.returncode == 0, again.stderr[-2000:]
    exp = tmp_path / "cut"
    states = sorted(exp.glob("experiment_state-*.json"))
    assert len(states) == 2
    newest = states[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    table_before = trial_table(exp / "summary.md")

    report = _raytune_hp("report", str(exp))
    assert report.returncode == 0, report.stderr[-2000:]
    damaged = [line for line in report.stderr.splitlines() if "damaged" in line]
    assert damaged == [f"raytune-hp: damaged: {newest}: cut off or not JSON (an older state is "
                       "used if whole)"]  # fmt: skip
    assert trial_table(exp / "summary.md") == table_before

    resumed = _raytune_hp("tune", config, *where, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Traceback" not in resumed.stderr
    assert (exp / (newest.name + DAMAGED_SUFFIX)).exists()
    table = trial_table(exp / "summary.md")
    assert len(table) == 1 + SAMPLES
    assert sorted(table[1:]) == sorted(table_before[1:])  # every trial, the same metrics
