"""Stop signals on a real run: SIGTERM (what kill, timeout, systemd, Kubernetes and SLURM send)
and SIGHUP (a closed terminal) stop the command line and the Python API as Ctrl-C does: the
trials finished so far are in the summary, the resume hint is printed, and --resume finishes
the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.summary import trial_table
from tests.integration.test_resume import (
    REPO,
    SAMPLES,
    TINY,
    _epochs,
    _kill_group,
    _tune,
    _wait_until_mid_run,
)

pytestmark = pytest.mark.slow

_UNFINISHED = {"running", "pending", "paused"}


def _statuses(exp_dir: Path) -> dict[str, str]:
    rows = trial_table(exp_dir / "summary.md")
    header = rows[0]
    return {row[header.index("run")]: row[header.index("status")] for row in rows[1:]}


@pytest.mark.parametrize(
    ("sent", "code", "to_group"),
    [(signal.SIGTERM, 143, False), (signal.SIGTERM, 143, True), (signal.SIGHUP, 129, True)],
    ids=["sigterm-driver", "sigterm-group", "sighup-group"],
)
def test_a_stop_signal_stops_cleanly_and_the_run_resumes(
    tmp_path: Path, sent: int, code: int, to_group: bool
) -> None:
    exp_dir = tmp_path / "faults"
    driver = _tune(tmp_path, *TINY)
    try:
        _wait_until_mid_run(exp_dir)
        if to_group:  # as timeout, systemd, SLURM and a closed terminal do: Ray's processes too
            os.killpg(driver.pid, sent)
        else:
            driver.send_signal(sent)
        _, err = driver.communicate(timeout=120)
    finally:
        _kill_group(driver, signal.SIGKILL)
    assert driver.returncode == code, err[-3000:]
    assert "Interrupted; nothing is lost. Resume with:" in err
    assert "--resume --name faults --storage" in err
    assert "Tuner.restore" not in err  # Ray Tune's own hint would resume without raytune-hp
    assert "Traceback" not in err
    statuses = _statuses(exp_dir)
    ended = {d.name for d in exp_dir.glob("*/") if (d / "params.json").exists()}
    ended = {name for name in ended if statuses.get(name, "running") not in _UNFINISHED}
    assert ended  # the trials finished before the signal are in the summary, as finished
    before = {name: _epochs(exp_dir / name) for name in ended}

    resumed = _tune(tmp_path, "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    statuses = _statuses(exp_dir)
    assert len(statuses) == SAMPLES
    assert not set(statuses.values()) & _UNFINISHED
    assert {name: _epochs(exp_dir / name) for name in ended} == before  # not re-run


_SCRIPT = """
import sys
import yaml
import raytune_hp

config = yaml.safe_load(open({config!r}))
config.update(name="api", storage={storage!r})
config["search"].update(num_samples=8, max_concurrent=2)
config["train"]["max_epochs"] = 6
config["early_stopping"] = {{"name": "none"}}
config["space"].update(batch_size=32, num_kernels={{"low": 100, "high": 150}})
result = raytune_hp.tune(config, resume=len(sys.argv) > 1)
print("trials:", len(result.trials), "interrupted:", result.interrupted)
"""


def test_a_script_calling_the_api_stops_cleanly_on_sigterm_and_resumes(tmp_path: Path) -> None:
    script = tmp_path / "tune_script.py"
    storage = tmp_path / "runs"
    script.write_text(
        textwrap.dedent(
            _SCRIPT.format(config=str(REPO / "configs" / "quickstart.yaml"), storage=str(storage))
        )
    )
    exp_dir = storage / "api"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_until_mid_run(exp_dir)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=120)
    finally:
        _kill_group(run, signal.SIGKILL)
    # Stopped cleanly, then the signal took its course: the script ended as SIGTERM ends it.
    assert run.returncode == -signal.SIGTERM, err[-3000:]
    assert "Traceback" not in err
    assert "trials:" not in out
    assert _statuses(exp_dir)
    resumed = subprocess.run(
        [sys.executable, str(script), "resume"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "trials: 8 interrupted: False" in resumed.stdout
