"""What a budget is expected to pay for: ASHA's rungs as Ray places them, the epochs a trial is
expected to train under them (checked against Ray's own ASHA fed fake trials), and the trials
that sizes what is sized in trials."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from raytune_hp.budget import (
    DEFAULT_TRIALS,
    asha_milestones,
    expected_trial_epochs,
    planned_trials,
    trial_cap,
)
from raytune_hp.config import ExperimentConfig, config_from, load_config
from raytune_hp.search import initial_points

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def _config(*overrides: str) -> ExperimentConfig:
    return load_config(QUICKSTART, list(overrides))


@dataclass(frozen=True)
class FakeTrial:
    trial_id: str


@pytest.mark.parametrize(
    ("max_epochs", "grace", "factor"),
    [
        (18, 2, 3),
        (20, 1, 2),
        (27, 3, 3),
        (4, 1, 2),
        (3, 1, 3),
        (50, 2, 2.5),
        (9, 9, 3),
        (100, 5, 4),
    ],
)
def test_the_milestones_are_where_rays_asha_judges(
    max_epochs: int, grace: int, factor: float
) -> None:
    asha = ASHAScheduler(
        time_attr="epoch", metric="m", mode="max", max_t=max_epochs, grace_period=grace,
        reduction_factor=factor,
    )  # fmt: skip
    rungs = [milestone for milestone, _ in asha._brackets[0]._rungs]
    judged = sorted({int(-(-milestone // 1)) for milestone in rungs if milestone < max_epochs})
    assert asha_milestones(max_epochs, grace, factor) == judged


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ((), 2 + 4 / 3 + 12 / 9),  # the quickstart: rungs at 2 and 6 of 18
        (("early_stopping.name=none",), 18.0),
        (("train.max_epochs=4", "early_stopping.grace_period=1",
          "early_stopping.reduction_factor=2"), 1 + 1 / 2 + 2 / 4),
        (("train.max_epochs=2", "early_stopping.grace_period=2"), 2.0),  # no rung below 2
    ],
)  # fmt: skip
def test_the_expected_epochs_of_a_trial(overrides: tuple[str, ...], expected: float) -> None:
    assert expected_trial_epochs(_config(*overrides)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        (
            "train.max_epochs=20",
            "early_stopping.grace_period=1",
            "early_stopping.reduction_factor=2",
        ),
    ],
)
def test_rays_asha_trains_about_as_many_epochs_a_trial_as_expected(
    overrides: tuple[str, ...],
) -> None:
    """Many trials one after another, each as good as a number drawn once (plus a little noise
    every epoch): the epochs Ray's ASHA lets them train, on average, against the estimate."""
    config = _config(*overrides)
    stopping = config.early_stopping
    asha = ASHAScheduler(
        time_attr="epoch", metric="val_acc", mode="max", max_t=config.train.max_epochs,
        grace_period=stopping.grace_period, reduction_factor=stopping.reduction_factor,
    )  # fmt: skip
    rng, trained = random.Random(0), []
    for number in range(1500):
        trial, quality = FakeTrial(str(number)), rng.random()
        asha.on_trial_add(None, trial)
        for epoch in range(1, config.train.max_epochs + 1):
            result = {"epoch": epoch, "val_acc": quality + rng.gauss(0, 0.01)}
            if asha.on_trial_result(None, trial, result) == TrialScheduler.STOP:
                break
        asha.on_trial_complete(None, trial, result)
        trained.append(epoch)
    average = sum(trained) / len(trained)
    assert average == pytest.approx(expected_trial_epochs(config), rel=0.08)


def test_without_a_budget_the_search_plans_num_samples() -> None:
    config = _config()
    assert planned_trials(config) == trial_cap(config) == 24


def test_an_epoch_budget_plans_the_trials_it_pays_for_under_asha() -> None:
    open_ended = _config("search.budget=400 epochs", "search.num_samples=500")
    assert planned_trials(open_ended) == round(400 / (14 / 3)) == 86
    assert planned_trials(open_ended, spent_epochs=260) == 30  # what is left of it
    assert planned_trials(open_ended, spent_epochs=400) == 1
    assert planned_trials(_config("search.budget=400 epochs")) == 24  # the quickstart's cap
    no_asha = _config("search.budget=400 epochs", "early_stopping.name=none")
    assert planned_trials(no_asha) == 22  # 400 / 18
    # TPE's random start-up is sized from the same number.
    assert initial_points(planned_trials(open_ended)) == 14


def test_a_time_budget_plans_its_cap_or_the_default() -> None:
    capped = _config("search.budget=2 hours")
    assert planned_trials(capped) == 24
    open_ended = load_config(QUICKSTART, ["search.budget=2 hours"]).model_dump(mode="json")
    del open_ended["search"]["num_samples"]
    assert planned_trials(config_from(open_ended)) == DEFAULT_TRIALS == 20
