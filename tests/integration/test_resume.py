"""Faults on a real run: the driver killed with SIGKILL and resumed, Ctrl-C, and a trial that
raises. Nothing finished is lost or re-run; unfinished trials continue from their checkpoints;
ASHA's rungs and the searcher's history survive."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hyperopt.base import JOB_STATE_DONE
from ray import cloudpickle

from raytune_hp.storage import ExperimentStore
from raytune_hp.storage_faults import saved_trial_ids
from tests.integration.summary import trial_table
from tests.integration.trial_folder import checkpointed_epochs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLES, EPOCHS = 8, 6
TINY = [
    "--set", f"search.num_samples={SAMPLES}",
    "--set", f"train.max_epochs={EPOCHS}",
    "--set", "early_stopping.grace_period=1",
    "--set", "early_stopping.reduction_factor=2",
    "--set", "space.num_kernels={low: 100, high: 150}",
    "--set", "space.batch_size=32",
    "--set", "search.max_concurrent=2",
]  # fmt: skip


def _tune(tmp: Path, *args: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "raytune_hp",
        "tune",
        str(REPO / "configs" / "quickstart.yaml"),
    ]
    return subprocess.Popen(
        [*command, "--name", "faults", "--storage", str(tmp), *args],
        cwd=tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the Ray processes it starts, too
    )


def _epochs(trial_dir: Path) -> list[int]:
    path = trial_dir / "result.json"
    if not path.exists():
        return []
    return [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]


def _wait_until_mid_run(exp_dir: Path, timeout: float = 150) -> None:
    """Until some trials have ended and others are between checkpoints."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [e for e in map(checkpointed_epochs, exp_dir.glob("*/")) if e]
        if EPOCHS in runs and len(runs) >= 4 and any(e < EPOCHS for e in runs):
            return
        time.sleep(0.3)
    pytest.fail("the run did not reach mid-run in time")


def _kill_group(process: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def test_driver_killed_with_sigkill_resumes_without_losing_or_repeating_work(
    tmp_path: Path,
) -> None:
    exp_dir = tmp_path / "faults"
    driver = _tune(tmp_path, *TINY)
    try:
        _wait_until_mid_run(exp_dir)
        driver.kill()  # SIGKILL, the driver alone: no chance to save anything
        driver.wait(timeout=30)
    finally:
        _kill_group(driver, signal.SIGKILL)  # the Ray processes it had started
    assert driver.returncode == -signal.SIGKILL

    before = {d.name: _epochs(d) for d in exp_dir.glob("*/") if (d / "params.json").exists()}
    ended_before = {name for name, e in before.items() if e and e[-1] == EPOCHS}
    rungs_before = json.loads((exp_dir / "asha_rungs.json").read_text())["rungs"]

    resumed = _tune(tmp_path, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]

    after = {d.name: _epochs(d) for d in exp_dir.glob("*/") if (d / "params.json").exists()}
    assert len(after) == SAMPLES  # exactly the configured number of trials
    for name in ended_before:
        assert after[name] == before[name]  # finished before the kill: not re-run
    for name, epochs in before.items():
        if epochs and name not in ended_before:
            assert after[name][: len(epochs)] == epochs  # kept what it had
            assert after[name].count(1) == 1  # continued from a checkpoint, no restart
    # ASHA's rungs: everything recorded before the kill for a trial Tune's saved state names is
    # still recorded; a trial the killed driver had just started, before a snapshot named it,
    # is not (the searcher proposed another in its place), nor anything of a trial Tune never ran.
    known = saved_trial_ids(ExperimentStore(str(exp_dir)))
    assert known is not None and len(known) == SAMPLES
    rungs_after = json.loads((exp_dir / "asha_rungs.json").read_text())["rungs"]
    for bracket_before, bracket_after in zip(rungs_before, rungs_after, strict=True):
        for (_, recorded_before), (_, recorded_after) in zip(
            bracket_before, bracket_after, strict=True
        ):
            kept = {trial: value for trial, value in recorded_before.items() if trial in known}
            assert kept.items() <= recorded_after.items()
            assert set(recorded_after) <= known
    # ...and everything recorded after it: every trial reached the first milestone (epoch 1).
    assert len(rungs_after[0][-1][1]) == SAMPLES
    # The searcher's history: TPE holds every trial of both runs, each once, all finished.
    # The newest by the timestamp in its name (syncing to storage rewrites every file's mtime).
    state_file = max(exp_dir.glob("searcher-state-*.pkl"), key=lambda p: p.name)
    history = cloudpickle.loads(state_file.read_bytes())["_hpopt_trials"].trials
    assert len(history) == SAMPLES and all(doc["state"] == JOB_STATE_DONE for doc in history)
    summary = (exp_dir / "summary.md").read_text()
    assert len(trial_table(summary)) == 1 + SAMPLES


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path: Path) -> None:
    exp_dir = tmp_path / "faults"
    driver = _tune(tmp_path, *TINY)
    try:
        _wait_until_mid_run(exp_dir)
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        _kill_group(driver, signal.SIGKILL)
    assert driver.returncode == 130, err[-3000:]
    assert "Interrupted; nothing is lost. Resume with:" in err
    assert "--resume --name faults --storage" in err
    assert "Traceback" not in err
    assert (exp_dir / "summary.md").exists()
