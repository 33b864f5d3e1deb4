"""The importance estimate from fake trials (no Ray): it finds the hyperparameter that matters,
is reproducible, and says in one line why it was skipped when the trials cannot tell."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from raytune_hp.config import ExperimentConfig
from raytune_hp.report import (
    Importance,
    TrialRecord,
    hparam_importance,
    plot_importance,
    write_plots,
)
from raytune_hp.report.plots import IMPORTANCE_PNG, LEARNING_CURVES_PNG
from raytune_hp.report.summary import plots_markdown
from raytune_hp.storage import ExperimentStore

FakeTrials = Callable[..., list[TrialRecord]]


def test_importance_ranks_lr_first_and_dropout_near_the_bottom(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    importance = hparam_importance(fake_trials(config, 30), config.search_space(), "val_acc")
    ranking = list(importance.scores)
    assert ranking[0] == "lr", importance.scores
    assert importance.scores["dropout"] < 0.05, importance.scores  # noise, like the rest
    assert "num_layers" not in ranking  # fixed by the config: not tuned
    assert sum(importance.scores.values()) == pytest.approx(1.0)
    assert importance.scores["lr"] > 0.5
    assert (importance.advice("lr"), importance.advice("dropout")) == ("finely", "coarsely")


def test_importance_is_reproducible(
    config: ExperimentConfig, trials: list[TrialRecord], importance: Importance
) -> None:
    assert hparam_importance(trials, config.search_space(), "val_acc") == importance


def test_too_few_trials_skip_the_importance_in_one_line(
    config: ExperimentConfig, fake_trials: FakeTrials, tmp_path: Path
) -> None:
    trials = fake_trials(config, 3)
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    reason = "it needs at least 4 trials with a `val_acc`; got 3."
    assert importance == Importance({}, reason, 3)
    assert plot_importance(importance) is None
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert IMPORTANCE_PNG not in written and LEARNING_CURVES_PNG in written
    text = plots_markdown(written, importance, "val_acc")
    assert f"Importance skipped: {reason}" in text.splitlines()
    assert "hyperparameter | importance | tune" not in text


def test_trials_without_a_metric_do_not_count(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    trials = fake_trials(config, 3) + [
        TrialRecord(f"e{i}", "error", {"optimizer": "adam"}, None, 0) for i in range(5)
    ]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert not importance.scores and importance.trials == 3


def test_equal_metrics_skip_the_importance(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    trials = [
        TrialRecord(t.name, t.status, t.hparams, 0.5, t.epochs) for t in fake_trials(config, 8)
    ]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert importance.reason == "every trial reached the same `val_acc`."


def test_a_hyperparameter_missing_from_some_trials_counts_as_a_value_of_its_own(
    config: ExperimentConfig, fake_trials: FakeTrials, all_plots: list[str], tmp_path: Path
) -> None:
    trials = fake_trials(config, 20)
    trials = [
        TrialRecord(t.name, t.status, hparams, t.best, t.epochs, curve=t.curve)
        for i, t in enumerate(trials)
        for hparams in [{k: v for k, v in t.hparams.items() if i % 3 or k != "dropout"}]
    ]
    importance = hparam_importance(trials, config.search_space(), "val_acc")
    assert importance.missing == {"dropout": 7}
    assert next(iter(importance.scores)) == "lr"
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert written == all_plots
    assert "`dropout` (in 7)" in plots_markdown(written, importance, "val_acc")
