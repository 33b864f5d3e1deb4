"""The shipped configs, shrunk to seconds, run end to end with real Ray Tune: coarse-to-fine,
warm start, grid without early stopping, the Transformer's schedule, and a user's own code."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ray.tune import ExperimentAnalysis
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.experiment import ExperimentResult, run_experiment
from raytune_hp.spaces import contains, flatten, grid, resolve_space, sample

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _config(name: str, tmp: Path, *overrides: str) -> ExperimentConfig:
    return load_config(CONFIGS / name, [*overrides, f"storage={tmp}"])


def _first_trial_config(ray_experiment: Path) -> dict[str, object]:
    """The config of the trial Ray created first: its experiment tag starts with the count of
    trials the searcher had created (the state file does not keep creation order)."""
    trials = ExperimentAnalysis(str(ray_experiment)).trials
    first = min(trials, key=lambda trial: int(trial.experiment_tag.split("_")[0]))
    return flatten(first.config)


def test_coarse_to_fine_narrows_around_the_best_inside_the_coarse_space(
    ray_session: None, tmp_path: Path
) -> None:
    config = _config(
        "cnn_coarse_to_fine.yaml",
        tmp_path,
        "search.num_samples=8",
        "search.top_k=2",
        "train.max_epochs=2",
        "early_stopping.grace_period=1",
        "space.num_kernels={low: 100, high: 200}",
    )
    result = run_experiment(config)
    exp_dir = result.exp_dir
    phases = [trial.phase for trial in result.trials]
    assert sorted(phases) == ["coarse"] * 4 + ["fine"] * 4

    coarse = config.search_space()
    fine = resolve_space("cnn", yaml.safe_load((exp_dir / "fine_space.yaml").read_text()))
    assert all(contains(coarse, point) for point in sample(fine, 300, seed=1))
    best_coarse = [t for t in result.trials if t.phase == "coarse"][:2]
    assert all(contains(fine, t.hparams) for t in best_coarse)
    assert all(contains(fine, t.hparams) for t in result.trials if t.phase == "fine")

    lines = (exp_dir / "summary.md").read_text().splitlines()
    header = next(line for line in lines if line.startswith("| "))
    assert "| phase |" in header
    runs = EventMultiplexer().AddRunsFromDirectory(str(exp_dir)).Runs()
    assert {run.split("/")[0] for run in runs if run != "."} == {"coarse", "fine"}


def test_warm_started_run_tries_the_earlier_best_first(ray_session: None, tmp_path: Path) -> None:
    tiny = ("search.num_samples=4", "train.max_epochs=2", "early_stopping.grace_period=1")
    earlier = run_experiment(_config("quickstart.yaml", tmp_path, *tiny, "name=earlier"))
    assert earlier.best is not None
    later = run_experiment(
        _config(
            "quickstart.yaml",
            tmp_path,
            *tiny,
            "name=later",
            f"search.warm_start=[{earlier.exp_dir}]",
        )
    )
    assert _first_trial_config(later.exp_dir) == earlier.best.hparams
    # Its history is the earlier trials: none of them is proposed again after the first.
    later_configs = [t.hparams for t in later.trials]
    assert later_configs.count(earlier.best.hparams) == 1


def test_grid_without_early_stopping_trains_every_point_once(
    ray_session: None, tmp_path: Path
) -> None:
    config = _config(
        "cnn_grid.yaml",
        tmp_path,
        "search.grid_points=2",
        "train.max_epochs=1",
        "early_stopping.name=none",
    )
    result = run_experiment(config)
    points = grid(config.search_space(), 2)
    assert len(points) == 8
    assert sorted(map(str, (t.hparams for t in result.trials))) == sorted(map(str, points))
    assert {t.status for t in result.trials} == {"completed"}


def test_transformer_lr_follows_the_noam_schedule(ray_session: None, tmp_path: Path) -> None:
    config = _config(
        "transformer_noam.yaml",
        tmp_path,
        "search.num_samples=1",
        "train.max_epochs=5",  # 45 steps an epoch: past 4 × warmup
        "early_stopping.name=none",
        "space.warmup_steps={value: 50, outside_table: true}",
        "space.d_model=64",
        "space.num_layers=1",
    )
    result = run_experiment(config)
    trial = result.trials[0]
    events = EventMultiplexer(size_guidance={"scalars": 0}).AddRunsFromDirectory(
        str(result.exp_dir)
    )
    events.Reload()
    lr = [s.value for s in events.Scalars(trial.name, "lr")]
    peak = max(range(len(lr)), key=lr.__getitem__)
    assert peak + 1 == 50  # the 50th step uses the peak: the trial's lr
    assert lr[peak] == pytest.approx(trial.hparams["lr"], rel=1e-5)
    assert lr[24] == pytest.approx(lr[peak] / 2, rel=1e-5)  # linear warmup
    assert lr[199] == pytest.approx(lr[peak] / 2, rel=1e-5)  # 1/sqrt(step) after it


@pytest.mark.parametrize("name", ["custom.yaml", "custom_function.yaml"])
def test_users_own_code_runs_with_tables_asha_and_tensorboard(
    ray_session: None, tmp_path: Path, name: str
) -> None:
    config = _config(
        name,
        tmp_path,
        "search.num_samples=3",
        "train.max_epochs=3",
        "early_stopping.grace_period=1",
    )
    result: ExperimentResult = run_experiment(config)
    assert len(result.trials) == 3
    assert result.best is not None and result.best.best is not None and result.best.best > 0.6
    for trial in result.trials:
        assert {"width", "activation", "lr", "optimizer"} <= set(trial.hparams)
    events = EventMultiplexer(size_guidance={"scalars": 0}).AddRunsFromDirectory(
        str(result.exp_dir)
    )
    events.Reload()
    best = result.best
    assert [s.step for s in events.Scalars(best.name, "val_acc")] == list(range(1, best.epochs + 1))


def test_a_regression_task_tunes_the_mlp_on_its_rmse(ray_session: None, tmp_path: Path) -> None:
    config = _config(
        "diabetes.yaml", tmp_path, "search.num_samples=3", "train.max_epochs=4",
        "early_stopping.grace_period=2",
    )  # fmt: skip
    result: ExperimentResult = run_experiment(config)
    assert (result.metric, result.mode) == ("val_rmse", "min")
    assert len(result.trials) == 3
    # The target is standardized: an RMSE below 1 beats predicting the mean.
    assert result.best is not None and result.best.best is not None and result.best.best < 1.0
    assert {"val_rmse", "val_mae", "val_loss"} <= set(result.best.history[-1])
    summary = (result.exp_dir / "summary.md").read_text()
    assert "sorted by `val_rmse` (best epoch of each trial; lower is better)" in summary
