"""The Python API as users run it: the README's notebook cell in a fresh interpreter (its own
module, data and metric from __main__), then the folder read back by other processes; a resume
that needs the objects handed over again; growing through the API; the process left as found;
and bf16 reaching every trial of a tuning run."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import raytune_hp
from raytune_hp.metrics import COMPUTE_DTYPE

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _readme_cell() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## From Python") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("\n```", start)]


def _run(tmp: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, *args]
    return subprocess.run(command, cwd=tmp, capture_output=True, text=True, timeout=400)


def test_the_readme_cell_is_the_example_file() -> None:
    example = (REPO / "examples" / "moons_from_python.py").read_text()
    assert _readme_cell().strip() in example.replace("  # type: ignore[no-untyped-def]", "")


def test_the_readme_cell_tunes_its_own_module_data_and_metric(tmp_path: Path) -> None:
    cell = _run(tmp_path, code=_readme_cell())
    assert cell.returncode == 0, cell.stderr[-3000:]
    assert re.search(r"val_f1 = 0\.\d{3}", cell.stdout), cell.stdout
    exp_dir = tmp_path / "runs" / "moons"
    trials = [d for d in exp_dir.iterdir() if (d / "params.json").exists()]
    assert len(trials) == 12
    for trial in trials:  # TensorBoard has the metric of the user's own, every epoch
        events = EventAccumulator(str(trial), size_guidance={"scalars": 0})
        events.Reload()
        assert "val_f1" in events.Tags()["scalars"]
    assert "sorted by `val_f1`" in (exp_dir / "summary.md").read_text()

    # Other processes need nothing but the folder.
    listed = _run(tmp_path, "-m", "raytune_hp", "results", str(exp_dir))
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert len(rows) == 12 and float(rows[0]["val_f1"]) >= float(rows[-1]["val_f1"] or 0)
    report = _run(tmp_path, "-m", "raytune_hp", "report", str(exp_dir))
    assert report.returncode == 0, report.stderr
    # The command line cannot resume it: the code came from a notebook; it says what to do.
    resumed = _run(tmp_path, "-m", "raytune_hp", "tune", str(exp_dir / "config.yaml"), "--resume")
    assert resumed.returncode == 2 and resumed.stderr.count("\n") == 1, resumed.stderr
    assert "train.function must be handed over again as a Python object" in resumed.stderr
    assert "raytune_hp.tune(..., train=..., resume=True)" in resumed.stderr


SCRIPT = """
import json, os, sys
import torch
import ray
import raytune_hp

def build(hp, input_shape, num_outputs):
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, num_outputs))

def load(val_fraction, seed):
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    return x[:1400], y[:1400], x[1400:], y[1400:]

experiment = {
    "name": "small", "train": {"max_epochs": 2},
    "space": {"optimizer": "adam", "batch_size": 256},
    "search": {"num_samples": int(sys.argv[1])}, "early_stopping": {"name": "none"},
}
before = dict(os.environ)
result = raytune_hp.tune(experiment, model=build, data=load, resume=sys.argv[2] == "resume")
changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))
print(json.dumps({
    "trials": len(result.trials), "phases": sorted({t.phase for t in result.trials}),
    "ray_left_running": ray.is_initialized(), "environment_changed": changed,
    "best": result.best_metric, "columns": list(result.dataframe().columns)[:6],
}))
"""


def test_python_code_resumes_and_grows_when_handed_over_again(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text(textwrap.dedent(SCRIPT))
    first = _run(tmp_path, "small.py", "3", "new")
    assert first.returncode == 0, first.stderr[-3000:]
    started = json.loads(first.stdout.splitlines()[-1])
    assert started["trials"] == 3 and started["best"] > 0.5
    assert started["ray_left_running"] is False and started["environment_changed"] == []
    assert started["columns"] == ["rank", "number", "trial", "phase", "status", "val_acc"]

    grown = _run(tmp_path, "small.py", "5", "resume")
    assert grown.returncode == 0, grown.stderr[-3000:]
    assert json.loads(grown.stdout.splitlines()[-1])["phases"] == ["", "more-1"]
    assert json.loads(grown.stdout.splitlines()[-1])["trials"] == 5


def test_bf16_reaches_every_trial_of_a_tuning_run(ray_session: None, tmp_path: Path) -> None:
    experiment = {
        "name": "bf16",
        "storage": str(tmp_path),
        "train": {"max_epochs": 1, "precision": "bf16"},
        "space": {"num_layers": 1, "num_kernels": 100, "batch_size": 256},
        "search": {"num_samples": 2},
        "early_stopping": {"name": "none"},
    }
    result = raytune_hp.tune(experiment)
    assert len(result.trials) == 2
    for trial in result.trials:
        assert [row[COMPUTE_DTYPE] for row in trial.history] == ["torch.bfloat16"]
