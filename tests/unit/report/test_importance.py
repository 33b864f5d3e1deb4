"""The importance estimate from fake trials (no Ray): trials compared at one epoch (the whole
budget where enough finished), the hyperparameter that matters found and its advice listed in
the ranking's order, and one line saying why it was skipped when the trials cannot tell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import ExperimentConfig
from raytune_hp.report import (
    Importance,
    TrialRecord,
    hparam_importance,
    plot_importance,
    write_plots,
)
from raytune_hp.report.importance import comparable_scores
from raytune_hp.report.plots import IMPORTANCE_PNG, LEARNING_CURVES_PNG
from raytune_hp.report.summary import plots_markdown
from raytune_hp.storage import ExperimentStore

FakeTrials = Callable[..., list[TrialRecord]]


def _importance(trials: list[TrialRecord], config: ExperimentConfig) -> Importance:
    space = config.search_space()
    return hparam_importance(trials, space, "val_acc", "max", config.train.max_epochs)


def _trial(number: int, curve: list[float], status: str = "", **hparams: Any) -> TrialRecord:
    """A trial with a val_acc per epoch: ``completed`` at 9 epochs, else stopped early."""
    points = tuple(enumerate(curve, start=1))
    status = status or ("completed" if len(curve) == 9 else "stopped early")
    name = f"{number:03d}"
    best, last = max(curve), curve[-1]
    return TrialRecord(
        name, status, hparams, best, len(curve), curve=points, number=number, last=last
    )


def test_importance_ranks_lr_first_and_dropout_near_the_bottom(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    importance = _importance(fake_trials(config, 30), config)
    ranking = list(importance.scores)
    assert ranking[0] == "lr", importance.scores
    assert importance.scores["dropout"] < 0.05, importance.scores  # noise, like the rest
    assert "num_layers" not in ranking  # fixed by the config: not tuned
    assert sum(importance.scores.values()) == pytest.approx(1.0)
    assert importance.scores["lr"] > 0.5
    assert list(importance.advice) == ranking  # advice for each, in the ranking's order


def test_enough_finished_trials_are_compared_at_the_whole_budget(
    config: ExperimentConfig, trials: list[TrialRecord], importance: Importance
) -> None:
    # Half of the 24 finished: more than a third, so the 12 stopped at epoch 2 are left out.
    assert (importance.epoch, importance.budget) == (config.train.max_epochs, True)
    assert (importance.trials, importance.scored) == (12, 24)
    text = plots_markdown([], importance, "val_acc")
    assert "Compared at epoch 18, the whole budget: 12 of the 24 trials reached it" in " ".join(
        text.split()
    )


def test_trials_are_compared_at_the_last_epoch_a_third_of_them_reached() -> None:
    # 12 trials: 2 finished (9 epochs), 3 more reached epoch 4, 7 stopped at epoch 2. A third
    # is 4 trials: epoch 9 has too few (2), epoch 4 has 5.
    finished = [_trial(n, [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.95, 0.9]) for n in (1, 2)]
    fourth = [_trial(n, [0.4, 0.5, 0.6, 0.7]) for n in (3, 4, 5)]
    stopped = [_trial(n, [0.3, 0.92]) for n in range(6, 13)]
    compared = comparable_scores([*finished, *fourth, *stopped], "max")
    assert (compared.epoch, compared.needed, compared.scored) == (4, 4, 12)
    # Each finished trial counts with its best up to epoch 4, not its 0.95 of epoch 8; the ones
    # stopped at epoch 2 with their (high) 0.92 are not compared with epoch-4 scores at all.
    assert [score for _, score in compared.trials] == [0.8, 0.8, 0.7, 0.7, 0.7]
    assert {trial.number for trial, _ in compared.behind} == set(range(6, 13))
    # Where they stopped they stood above every trial of epoch 2 but one another: none was
    # beaten there by a trial that went on (0.92 > 0.5 and 0.5).
    assert all(standing == 0 for _, standing in compared.behind)


def test_a_running_trial_is_not_behind_only_not_there_yet() -> None:
    trials = [_trial(n, [0.5] * 9) for n in range(1, 6)] + [_trial(6, [0.9], status="running")]
    compared = comparable_scores(trials, "max")
    assert compared.epoch == 9 and len(compared.trials) == 5 and compared.behind == ()


def test_the_summary_lists_the_advice_in_the_rankings_order(importance: Importance) -> None:
    text = plots_markdown([], importance, "val_acc")
    items = [line for line in text.splitlines() if line[:1].isdigit() and ". `" in line]
    names = [line.split("`")[1] for line in items]
    assert names == list(importance.scores)
    assert items[0].startswith("1. `lr` (importance ")
    lr = importance.advice["lr"]
    assert lr.action.startswith("narrow to [") and lr.changes
    assert "(log scale" in lr.text


def test_importance_is_reproducible(
    config: ExperimentConfig, trials: list[TrialRecord], importance: Importance
) -> None:
    assert _importance(trials, config) == importance


def test_too_few_trials_skip_the_importance_in_one_line(
    config: ExperimentConfig, fake_trials: FakeTrials, tmp_path: Path
) -> None:
    trials = fake_trials(config, 3)
    importance = _importance(trials, config)
    reason = "it needs at least 4 trials with a `val_acc`; got 3."
    assert (importance.scores, importance.reason, importance.trials) == ({}, reason, 3)
    assert plot_importance(importance) is None
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert IMPORTANCE_PNG not in written and LEARNING_CURVES_PNG in written
    text = plots_markdown(written, importance, "val_acc")
    assert f"Importance skipped: {reason}" in text.splitlines()
    assert "(importance " not in text


def test_trials_without_a_metric_do_not_count(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    trials = fake_trials(config, 3) + [
        TrialRecord(f"e{i}", "failed", {"optimizer": "adam"}, None, 0) for i in range(5)
    ]
    importance = _importance(trials, config)
    assert not importance.scores and importance.trials == 3


def test_equal_metrics_skip_the_importance(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    trials = [replace(t, best=0.5, curve=()) for t in fake_trials(config, 8)]
    importance = _importance(trials, config)
    assert importance.reason == "every trial reached the same `val_acc`."


def test_a_hyperparameter_missing_from_some_trials_counts_as_a_value_of_its_own(
    config: ExperimentConfig, fake_trials: FakeTrials, all_plots: list[str], tmp_path: Path
) -> None:
    trials = fake_trials(config, 30)
    trials = [
        replace(t, hparams={k: v for k, v in t.hparams.items() if t.number % 3 or k != "dropout"})
        for t in trials
    ]
    importance = _importance(trials, config)
    compared = [t for t in trials if t.status == "completed"]
    assert importance.missing == {"dropout": sum("dropout" not in t.hparams for t in compared)}
    assert next(iter(importance.scores)) == "lr"
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert written == all_plots
    count = importance.missing["dropout"]
    assert f"`dropout` (in {count})" in plots_markdown(written, importance, "val_acc")


def test_a_loss_is_compared_with_lower_better(
    config: ExperimentConfig, fake_trials: FakeTrials
) -> None:
    losses = [
        replace(t, curve=tuple((e, 1 - v) for e, v in t.curve), best=1 - (t.best or 0))
        for t in fake_trials(config, 12)
    ]
    compared = comparable_scores(losses, "min")
    best = min(losses, key=lambda t: t.best or 0)
    assert dict((t.name, s) for t, s in compared.trials)[best.name] == pytest.approx(best.best)


UNSEEN = "for trials the forest did not see (its out-of-bag R²)"


@pytest.mark.parametrize(
    ("explained", "said"),
    [
        (0.8, f"predict 80% of that spread {UNSEEN}."),
        (0.3, f"predict 30% of that spread {UNSEEN}, so read the ranking as a weak hint."),
        (-0.2, "R² is at most 0), so the ranking is noise and only the advice counts."),
    ],
)
def test_the_text_says_how_far_the_ranking_can_be_trusted(
    importance: Importance, explained: float, said: str
) -> None:
    text = " ".join(plots_markdown([], replace(importance, explained=explained), "val_acc").split())
    assert said in text
