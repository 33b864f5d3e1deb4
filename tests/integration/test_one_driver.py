"""One driver per experiment, with real drivers: two `tune` runs started together on one folder
(one is refused with the holder named, the other finishes with a complete summary), and two
`--resume` runs of one experiment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLES = 3
SMALL = [
    "--set", f"search.num_samples={SAMPLES}",
    "--set", "train.max_epochs=3",
    "--set", "search.max_concurrent=1",
    "--set", "early_stopping.name=none",
]  # fmt: skip


def _tune(tmp: Path, *args: str) -> subprocess.Popen[str]:
    config = str(REPO / "configs" / "custom_function.yaml")
    return subprocess.Popen(
        [sys.executable, "-m", "raytune_hp", "tune", config, "--name", "one", "--storage",
         str(tmp), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _both(first: subprocess.Popen[str], second: subprocess.Popen[str]) -> list[tuple[int, str]]:
    return [(p.wait(timeout=240), p.communicate()[1]) for p in (first, second)]


def _check_one_refused(ends: list[tuple[int, str]], exp: Path) -> None:
    codes = sorted(code for code, _ in ends)
    assert codes == [0, 2], [err[-2000:] for _, err in ends]
    refused = next(err for code, err in ends if code == 2)
    finished = next(err for code, err in ends if code == 0)
    assert refused.strip().count("\n") == 0 and "Traceback" not in refused
    assert refused.startswith(f"raytune-hp: {exp} must be run by one driver at a time; got ")
    assert "pid " in refused and "since 20" in refused and "host " in refused
    assert "Traceback" not in finished
    assert len(trial_table(exp / "summary.md")) == 1 + SAMPLES


def test_two_drivers_started_together_one_is_refused_with_the_holder_named(
    tmp_path: Path,
) -> None:
    first = _tune(tmp_path, *SMALL)
    time.sleep(0.5)
    second = _tune(tmp_path, *SMALL)
    _check_one_refused(_both(first, second), tmp_path / "one")


def test_two_resumes_of_one_experiment_one_is_refused(tmp_path: Path) -> None:
    done = _tune(tmp_path, *SMALL)
    assert done.wait(timeout=240) == 0, done.communicate()[1][-2000:]
    grow = ["--set", f"search.num_samples={SAMPLES + 1}"]
    first = _tune(tmp_path, "--resume", *grow)
    time.sleep(0.5)
    second = _tune(tmp_path, "--resume", *grow)
    ends = _both(first, second)
    assert sorted(code for code, _ in ends) == [0, 2], [err[-2000:] for _, err in ends]
    refused = next(err for code, err in ends if code == 2)
    assert "must be run by one driver at a time" in refused and "Traceback" not in refused
    assert len(trial_table(tmp_path / "one" / "summary.md")) == 1 + SAMPLES + 1
