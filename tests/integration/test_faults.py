"""Faults inside trials: one that raises is retried from its checkpoint while the others go on;
one whose loss blows up ends itself as diverged and reports the worst loss to the searcher."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import load_config
from raytune_hp.experiment import run_experiment

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture
def flaky_module(tmp_path: Path) -> Iterator[str]:
    """A training function that raises once, in its second epoch, the first time it runs."""
    marker = tmp_path / "failed-once"
    (tmp_path / "flaky_training.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from examples.custom import train as _train

            def train(hp, data, report, *, max_epochs, state=None):
                def guarded(metrics, state=None):
                    report(metrics, state)
                    if metrics["epoch"] == 1 and not Path({str(marker)!r}).exists():
                        Path({str(marker)!r}).touch()
                        raise RuntimeError("a fault in the trial")
                _train(hp, data, guarded, max_epochs=max_epochs, state=state)
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    yield "flaky_training:train"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("flaky_training", None)


def test_a_trial_that_raises_is_retried_from_its_checkpoint(
    ray_session: None, tmp_path: Path, flaky_module: str
) -> None:
    config = load_config(
        CONFIGS / "custom_function.yaml",
        [
            f"train.function={flaky_module}",
            "train.max_epochs=3",
            "train.retries=1",
            "search.num_samples=3",
            "search.max_concurrent=1",
            "early_stopping.name=none",
            f"storage={tmp_path / 'runs'}",
        ],
    )
    result = run_experiment(config)
    assert [t.status for t in result.trials] == ["completed"] * 3
    assert all(t.epochs == 3 for t in result.trials)
    retried = [t for t in result.trials if t.detail]
    assert len(retried) == 1
    assert (
        "retried from its checkpoint after RuntimeError: a fault in the trial" in retried[0].detail
    )
    summary = (result.exp_dir / "summary.md").read_text()
    assert "a fault in the trial" in summary
    # Resumed from the checkpoint of epoch 1: epoch 1 is not trained twice.
    results = (result.exp_dir / retried[0].name / "result.json").read_text().splitlines()
    assert [line.count('"epoch": 1,') for line in results].count(1) == 1


def test_a_diverging_trial_ends_itself_as_diverged_with_the_worst_loss(
    ray_session: None, tmp_path: Path
) -> None:
    config = load_config(
        CONFIGS / "quickstart.yaml",
        [
            "search.strategy=random",
            "search.num_samples=2",
            "train.metric=val_loss",
            "train.max_epochs=3",
            "early_stopping.name=none",
            "space.optimizer=sgd",
            "space.lr={low: 1e11, high: 1e13, outside_table: true}",
            "space.num_kernels=100",
            f"storage={tmp_path / 'runs'}",
        ],
    )
    result = run_experiment(config)
    assert [t.status for t in result.trials] == ["diverged", "diverged"]
    assert all(t.epochs < 3 for t in result.trials)  # ended itself, not an error
    for trial in result.trials:  # what the searcher saw last: the worst finite loss
        last = (result.exp_dir / trial.name / "result.json").read_text().splitlines()[-1]
        assert '"val_loss": 1000000000.0' in last and '"diverged": true' in last


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[Any]:
    """Writes a module of training code into ``tmp_path`` and makes it importable."""
    names: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        return f"{name}:train"

    sys.path.insert(0, str(tmp_path))
    yield write
    sys.path.remove(str(tmp_path))
    for name in names:
        sys.modules.pop(name, None)


def test_a_function_that_returns_without_reporting_fails_alone(
    ray_session: None, tmp_path: Path, user_module: Any
) -> None:
    marker = tmp_path / "returned-once"
    function = user_module(
        "silent_training",
        f"""
        from pathlib import Path
        from examples.custom import train as _train

        def train(hp, data, report, *, max_epochs, state=None):
            if not Path({str(marker)!r}).exists():
                Path({str(marker)!r}).touch()
                return  # the first trial: never reports
            _train(hp, data, report, max_epochs=max_epochs, state=state)
        """,
    )
    config = load_config(
        CONFIGS / "custom_function.yaml",
        [
            f"train.function={function}",
            "train.max_epochs=2",
            "train.retries=0",
            "search.num_samples=3",
            "search.max_concurrent=1",
            "early_stopping.name=none",
            f"storage={tmp_path / 'runs'}",
        ],
    )
    result = run_experiment(config)  # no driver crash: the other trials run
    statuses = sorted(t.status for t in result.trials)
    assert statuses == ["completed", "completed", "failed"]
    failed = next(t for t in result.trials if t.status == "failed")
    message = "silent_training:train returned without reporting 'val_acc'"
    assert message in failed.detail
    assert message in (result.exp_dir / "summary.md").read_text()
    assert message in (result.exp_dir / failed.name / "error.txt").read_text()


def test_a_hung_trial_is_ended_by_its_time_limit_and_the_others_go_on(
    ray_session: None, tmp_path: Path, user_module: Any
) -> None:
    calls = tmp_path / "calls"
    function = user_module(
        "hanging_training",
        f"""
        import time
        from pathlib import Path
        from examples.custom import train as _train

        def train(hp, data, report, *, max_epochs, state=None):
            calls = Path({str(calls)!r})
            call = len(calls.read_text()) if calls.exists() else 0
            calls.write_text("x" * (call + 1))

            def reporting(metrics, state=None):
                report(metrics, state)
                if call == 0 and metrics["epoch"] == 1:
                    time.sleep(3600)  # the first trial hangs in its second epoch
                if call == 1:
                    time.sleep(5)  # the second is slow: 40 s for its 8 epochs

            _train(hp, data, reporting, max_epochs=max_epochs, state=state)
        """,
    )
    config = load_config(
        CONFIGS / "custom_function.yaml",
        [
            f"train.function={function}",
            "train.max_epochs=8",
            "train.retries=2",
            # Limits far above an epoch of the others (under a second), even on a busy machine.
            "train.trial_timeout={epoch: 20 s, trial: 30 s}",
            "search.num_samples=4",
            "search.max_concurrent=1",
            "early_stopping.name=none",
            f"storage={tmp_path / 'runs'}",
        ],
    )
    started = time.monotonic()
    result = run_experiment(config)
    assert time.monotonic() - started < 240
    assert sorted(t.status for t in result.trials) == ["completed"] * 2 + ["timed out"] * 2
    hung, slow = sorted(
        (t for t in result.trials if t.status == "timed out"), key=lambda t: t.number
    )
    assert hung.epochs == 1 and "no report within 20 s after epoch 1" in hung.detail
    assert 1 <= slow.epochs < 7 and "over 30 s of training" in slow.detail
    assert len((tmp_path / "calls").read_text()) == 4  # neither was retried
    summary = (result.exp_dir / "summary.md").read_text()
    assert "timed out" in summary and "train.trial_timeout.epoch" in summary
    # Ray may have saved a killed trial as running, and a resume restarts what did not end
    # well: the timed-out trials stay timed out, without running again.
    resumed = run_experiment(config, resume=True)
    assert not resumed.interrupted
    assert sorted(t.status for t in resumed.trials) == ["completed"] * 2 + ["timed out"] * 2
    assert len((tmp_path / "calls").read_text()) == 4


def test_a_cut_off_checkpoint_falls_back_and_numpy_state_resumes(
    ray_session: None, tmp_path: Path, user_module: Any
) -> None:
    marker, runs = tmp_path / "failed-once", tmp_path / "runs"
    function = user_module(
        "numpy_state_training",
        f"""
        from pathlib import Path
        import numpy as np
        from examples.custom import train as _train

        def train(hp, data, report, *, max_epochs, state=None):
            if state is not None:  # resumed: the numpy values are numpy again
                assert type(state["count"]) is np.int64, type(state["count"])
                assert state["seen"].dtype == np.float32, state["seen"]
                assert state["seen"].shape == (int(state["count"]),)

            def with_numpy(metrics, state=None):
                epoch = metrics["epoch"]
                extra = {{"seen": np.full(epoch, 0.5, np.float32), "count": np.int64(epoch)}}
                report(metrics, {{**state, **extra}})
                if epoch == 3 and not Path({str(marker)!r}).exists():
                    Path({str(marker)!r}).touch()
                    newest = max(Path({str(runs)!r}).glob("*/*/checkpoint_*")) / "state.pt"
                    newest.write_bytes(newest.read_bytes()[:100])  # cut off
                    raise RuntimeError("a fault after a cut-off checkpoint")

            _train(hp, data, with_numpy, max_epochs=max_epochs, state=state)
        """,
    )
    config = load_config(
        CONFIGS / "custom_function.yaml",
        [
            f"train.function={function}",
            "train.max_epochs=5",
            "train.retries=1",
            "search.num_samples=1",
            "early_stopping.name=none",
            f"storage={runs}",
        ],
    )
    result = run_experiment(config)
    (trial,) = result.trials
    assert trial.status == "completed" and trial.epochs == 5
    # Continued from epoch 2's checkpoint: epoch 3 trained again, 1 and 2 not.
    lines = (result.exp_dir / trial.name / "result.json").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    epochs = [row["epoch"] for row in rows]
    assert epochs.count(1) == epochs.count(2) == 1 and epochs[-1] == 5
    (continued,) = [row for row in rows if row.get("checkpoint_fallback")]
    assert continued["epoch"] == 3
    note = "checkpoint_000002 could not be read"
    assert note in trial.detail and "continued from checkpoint_000001" in trial.detail
    assert note in (result.exp_dir / "summary.md").read_text()


def test_a_trial_keeps_its_latest_checkpoint_and_its_two_best(
    ray_session: None, tmp_path: Path, user_module: Any
) -> None:
    function = user_module(
        "peaking_training",
        """
        CURVE = [0.5, 0.9, 0.6, 0.8, 0.55]  # best at epoch 2, then 4; the last is worse

        def train(hp, data, report, *, max_epochs, state=None):
            first = 1 if state is None else state["epoch"] + 1
            for epoch in range(first, max_epochs + 1):
                report({"epoch": epoch, "val_acc": CURVE[epoch - 1]}, {"epoch": epoch})
        """,
    )
    config = load_config(
        CONFIGS / "custom_function.yaml",
        [
            f"train.function={function}",
            "train.metric=val_acc",
            "train.mode=max",
            "train.max_epochs=5",
            "search.num_samples=1",
            "early_stopping.name=none",
            f"storage={tmp_path / 'runs'}",
        ],
    )
    result = run_experiment(config)
    (trial,) = result.trials
    assert trial.status == "completed" and trial.epochs == 5
    kept = sorted(p.name for p in (result.exp_dir / trial.name).glob("checkpoint_*"))
    # checkpoint_00000N holds epoch N + 1: the best (2), the second best (4), the latest (5)
    assert kept == ["checkpoint_000001", "checkpoint_000003", "checkpoint_000004"]
