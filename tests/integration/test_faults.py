"""Faults inside trials: one that raises is retried from its checkpoint while the others go on;
one whose loss blows up ends itself as diverged and reports the worst loss to the searcher."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

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
