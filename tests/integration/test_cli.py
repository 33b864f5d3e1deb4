"""The command a user types, as a subprocess: a real run, its printout, and refusals."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RAYTUNE_HP = str(Path(sys.executable).parent / "raytune-hp")
TINY = [
    "--set", "search.num_samples=3",
    "--set", "train.max_epochs=2",
    "--set", "early_stopping.grace_period=1",
    "--set", "space.num_kernels=100",
    "--set", "space.kernel_size=3",
]  # fmt: skip


def _tune(cwd: Path, *args: str, tiny: bool = True) -> subprocess.CompletedProcess[str]:
    sets = TINY if tiny else []
    command = [RAYTUNE_HP, "tune", str(REPO / "configs" / "quickstart.yaml"), *sets, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_tune_runs_prints_the_best_and_refuses_to_overwrite(tmp_path: Path) -> None:
    run = _tune(tmp_path, "--name", "cli")
    assert run.returncode == 0, run.stderr[-3000:]
    exp_dir = tmp_path / "runs" / "cli"
    assert f"Experiment: {exp_dir}" in run.stdout
    assert "Best trial" in run.stdout and "val_acc = " in run.stdout
    assert "optimizer: " in run.stdout and "lr: " in run.stdout
    assert f"tensorboard --logdir {exp_dir}" in run.stdout
    rows = trial_table(exp_dir / "summary.md")
    assert len(rows) == 1 + 3
    # Piped, the progress is plain lines for a log: no carriage return, no escape code, and the
    # last one counts every trial.
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", run.stdout)
    progress = [line for line in run.stdout.splitlines() if re.match(r"\d+/3 done", line)]
    assert progress, run.stdout
    assert re.fullmatch(
        r"3/3 done( \(.*\))? \| best val_acc 0\.\d+ \(\d{3}_\w.*\) \| took \d+s", progress[-1]
    ), progress[-1]
    assert "Trial name" not in run.stdout  # Ray's table only when asked

    before = sorted(p.name for p in exp_dir.iterdir())
    again = _tune(tmp_path, "--name", "cli")
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr
    assert str(exp_dir) in again.stderr and "--resume" in again.stderr
    assert sorted(p.name for p in exp_dir.iterdir()) == before


def test_resume_of_something_that_is_not_an_experiment_says_so(tmp_path: Path) -> None:
    (tmp_path / "runs" / "nothing").mkdir(parents=True)
    run = _tune(tmp_path, "--name", "nothing", "--resume", tiny=False)
    assert run.returncode == 2
    assert run.stderr.startswith("raytune-hp: --resume: ") and run.stderr.count("\n") == 1
    assert "must hold an earlier experiment" in run.stderr


def test_the_submit_script_is_the_tune_command(tmp_path: Path) -> None:
    # `ray submit` copies the script alone to the head: it must work from any folder.
    script = tmp_path / "tune.py"
    script.write_text((REPO / "scripts" / "tune.py").read_text())
    run = subprocess.run(
        [sys.executable, str(script), str(REPO / "configs" / "quickstart.yaml"), "--set", "x=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "x is not a known key" in run.stderr and run.stderr.count("\n") == 1


@pytest.mark.parametrize("flags", [["--progress-table"], []], ids=["table", "line"])
def test_a_best_trial_without_a_conditional_hyperparameter_ends_the_run_well(
    tmp_path: Path, flags: list[str]
) -> None:
    # The one trial is the space's starting point: the constant schedule, without warmup_steps,
    # which Ray's table looked up in the best trial's config at the very end (KeyError).
    config = str(REPO / "configs" / "cnn_tricks.yaml")
    sets = ["--set", "search.num_samples=1", "--set", "train.max_epochs=4"]
    run = subprocess.run(
        [RAYTUNE_HP, "tune", config, *sets, *flags],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "KeyError" not in run.stderr
    assert (tmp_path / "runs" / "cnn-tricks" / "summary.md").is_file()
    assert "Best trial 001_" in run.stdout
    if flags:
        assert "Current best trial" in run.stdout and "| Trial name" in run.stdout
    else:
        assert "1/1 done | best val_acc" in run.stdout and "Trial name" not in run.stdout
