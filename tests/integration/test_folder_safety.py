"""An experiment folder is data: real runs whose folders get planted pickles, are copied to
another machine (another user's key), or are copied and moved before they resume.

- `report` and `results` read a finished folder with a malicious pickle in every pickled place
  and never run it; `tune --resume` refuses the folder before unpickling anything.
- A folder from another machine resumes only with --trust-folder, and is this user's after that.
- An interrupted folder copied with `cp -a` or moved with `mv` resumes in its new place only: the
  original's files are byte for byte as they were, and the copy has every trial.
(The same user's kill-and-resume without the flag: tests/integration/test_resume.py.)"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray import cloudpickle

from tests.integration.summary import trial_table
from tests.integration.trial_folder import checkpointed_epochs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLES, EPOCHS = 4, 4
TINY = [
    "--set", f"search.num_samples={SAMPLES}",
    "--set", f"train.max_epochs={EPOCHS}",
    "--set", "early_stopping.grace_period=1",
    "--set", "early_stopping.reduction_factor=2",
    "--set", "space.num_kernels={low: 100, high: 150}",
    "--set", "space.batch_size=32",
    "--set", "search.max_concurrent=2",
]  # fmt: skip


class Planted:
    """A pickle that, once loaded, writes ``marker``: code from the folder ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",)


def _command(where: Path, name: str, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "raytune_hp",
        "tune",
        str(REPO / "configs" / "quickstart.yaml"),
        "--name",
        name,
        "--storage",
        str(where),
        *args,
    ]


def _env(config_home: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(config_home), "OMP_NUM_THREADS": "1"}


def _tune(
    where: Path, name: str, *args: str, config_home: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(where, name, *args),
        cwd=where,
        env=_env(config_home),
        capture_output=True,
        text=True,
        timeout=280,
    )


def _cli(*args: str, config_home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "raytune_hp", *args],
        env=_env(config_home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _trials(exp_dir: Path) -> list[list[str]]:
    return trial_table(exp_dir / "summary.md")[1:]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished experiment folder, and the config folder holding the key that signed it."""
    where, config_home = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("config")
    done = _tune(where, "exp", *TINY, config_home=config_home)
    assert done.returncode == 0, done.stderr[-3000:]
    return where / "exp", config_home


def _copy(finished: tuple[Path, Path], to: Path) -> Path:
    shutil.copytree(finished[0], to / "exp", symlinks=True)
    return to / "exp"


def _plant_everywhere(exp_dir: Path, marker: Path) -> list[str]:
    """A malicious pickle in every place of the folder that holds one; the places planted."""
    payload = cloudpickle.dumps(Planted(marker))
    planted = []

    def in_json(value: object) -> object:
        if isinstance(value, dict):
            if value.get("_type") == "CLOUDPICKLE_FALLBACK":
                return {**value, "value": payload.hex()}
            hexed = {"placement_group_factory": payload.hex()}  # Ray pickles it as hex
            return {key: hexed.get(key, in_json(item)) for key, item in value.items()}
        if isinstance(value, list):
            return [in_json(item) for item in value]
        if isinstance(value, str) and value.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.dumps(in_json(json.loads(value)))  # a trial's state, as a string
        return value

    for state in exp_dir.glob("experiment_state-*.json"):
        text = state.read_text()
        state.write_text(json.dumps(in_json(json.loads(text))))
        assert state.read_text().count(payload.hex()) >= 3
        planted.append(state.name)
    pickles = [
        "tuner.pkl",
        *(p.name for p in exp_dir.glob("search_gen_state-*.json")),
        *(p.name for p in exp_dir.glob("searcher-state-*.pkl")),
        "callback-states-2099-01-01_00-00-00.pkl",
    ]
    for trial in (p for p in exp_dir.iterdir() if (p / "params.json").exists()):
        pickles += [f"{trial.name}/params.pkl", f"{trial.name}/error.pkl"]
        pickles += [str(state.relative_to(exp_dir)) for state in trial.glob("checkpoint_*/*")]
    for name in pickles:
        (exp_dir / name).write_bytes(payload)
    return planted + pickles


def test_report_runs_no_pickle_and_resume_refuses_the_folder(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    exp_dir = _copy(finished, tmp_path)
    marker = tmp_path / "code-ran"
    planted = _plant_everywhere(exp_dir, marker)
    assert "tuner.pkl" in planted and any("checkpoint_" in p for p in planted)
    # The payload is live: loading it anywhere runs it.
    pickle.loads((exp_dir / "tuner.pkl").read_bytes())
    assert marker.exists()
    marker.unlink()

    report = _cli("report", str(exp_dir), config_home=finished[1])
    assert report.returncode == 0, report.stderr[-3000:]
    results = _cli("results", str(exp_dir), "--format", "json", config_home=finished[1])
    assert results.returncode == 0, results.stderr[-3000:]
    assert len(results.stdout.splitlines()) == SAMPLES
    assert len(_trials(exp_dir)) == SAMPLES
    assert not marker.exists()

    resumed = _tune(tmp_path, "exp", "--resume", config_home=finished[1])
    assert resumed.returncode == 2
    assert resumed.stderr.count("\n") == 1 and "Traceback" not in resumed.stderr
    assert str(exp_dir) in resumed.stderr and "--trust-folder" in resumed.stderr
    assert "changed after its run wrote it" in resumed.stderr or "is not in" in resumed.stderr
    assert not marker.exists()


def test_a_folder_from_another_machine_resumes_only_when_trusted(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    exp_dir = _copy(finished, tmp_path)
    elsewhere = tmp_path / "other-machine-config"  # another machine: another key
    grow = ("--resume", "--set", f"search.num_samples={SAMPLES + 1}")

    refused = _tune(tmp_path, "exp", *grow, config_home=elsewhere)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "signed by another key" in refused.stderr and str(exp_dir) in refused.stderr
    assert not (exp_dir / "more-1").exists()

    trusted = _tune(tmp_path, "exp", *grow, "--trust-folder", config_home=elsewhere)
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    assert len(_trials(exp_dir)) == SAMPLES + 1

    # Resumed by this machine's user, the folder is now signed with their key.
    again = _tune(tmp_path, "exp", "--resume", config_home=elsewhere)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_trials(exp_dir)) == SAMPLES + 1


def _interrupted(where: Path, config_home: Path) -> Path:
    """An experiment stopped with Ctrl-C while some trials are between checkpoints."""
    exp_dir = where / "exp"
    driver = subprocess.Popen(
        _command(where, "exp", *TINY),
        cwd=where,
        env=_env(config_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            runs = [e for e in map(checkpointed_epochs, exp_dir.glob("*/")) if e]
            if len(runs) >= 2 and any(e < EPOCHS for e in runs):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the run did not reach mid-run in time")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == 130, err[-3000:]
    return exp_dir


def test_a_copied_or_moved_folder_resumes_in_its_new_place_only(tmp_path: Path) -> None:
    config_home = tmp_path / "config"
    (tmp_path / "first").mkdir()
    original = _interrupted(tmp_path / "first", config_home)
    before = _checksums(original)

    (tmp_path / "copy").mkdir()
    subprocess.run(["cp", "-a", str(original), str(tmp_path / "copy")], check=True)
    resumed = _tune(tmp_path / "copy", "exp", "--resume", config_home=config_home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _checksums(original) == before  # nothing written into the original
    assert len(_trials(tmp_path / "copy" / "exp")) == SAMPLES

    (tmp_path / "moved").mkdir()
    shutil.move(original, tmp_path / "moved" / "exp")
    resumed = _tune(tmp_path / "moved", "exp", "--resume", config_home=config_home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not original.exists()  # nothing recreated where it was
    assert len(_trials(tmp_path / "moved" / "exp")) == SAMPLES
