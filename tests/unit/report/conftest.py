"""Fake trials the report tests share (no Ray), as ``load_trials`` reads them: numbered, named
runs, stopped early or completed, with curves, histories and wall-clock times; ``val_acc`` falls
off with the distance of log10(lr) from its best, so the importance has one hyperparameter to
find. And the plots a full report draws, in the order the summary shows them."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.report import Importance, TrialRecord, hparam_importance
from raytune_hp.report.plots import (
    IMPORTANCE_PNG,
    LEARNING_CURVES_PNG,
    METRIC_VS_HPARAMS_PNG,
    OPTIMIZATION_HISTORY_PNG,
    PARALLEL_COORDINATES_PNG,
)
from raytune_hp.report.trials import run_name
from raytune_hp.spaces import SearchSpace, powers_of_two

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"
BEST_LR = 3e-3


def _draw(space: SearchSpace, rng: random.Random) -> dict[str, Any]:
    """One flat configuration of ``space``, drawn uniformly (log-uniform on log scales)."""
    hparams: dict[str, Any] = {}
    for dim in space.dims:
        if dim.fixed:
            hparams[dim.name] = dim.value
        elif dim.kind == "choice":
            hparams[dim.name] = rng.choice(dim.choices)
        elif dim.kind == "log":
            low, high = dim.range_for(hparams.get("optimizer"))
            hparams[dim.name] = 10 ** rng.uniform(math.log10(low), math.log10(high))
        elif dim.kind == "pow2":
            hparams[dim.name] = rng.choice(powers_of_two(*dim.bounds))
        elif dim.kind == "int":
            hparams[dim.name] = rng.randint(int(dim.bounds[0]), int(dim.bounds[1]))
        else:
            hparams[dim.name] = rng.uniform(*dim.bounds)
    return hparams


def _trials(config: ExperimentConfig, n: int, seed: int = 0) -> list[TrialRecord]:
    """``n`` trials whose val_acc falls off with the distance of log10(lr) from its best; the
    other hyperparameters (dropout among them) only add noise. The half that looks worse at
    epoch 2 is stopped there, as ASHA would; every third finished trial's last epoch dips below
    its best.
    Trials run two at a time, one second an epoch, numbered in the order they were drawn."""
    rng = random.Random(seed)
    space = config.search_space()
    draws = [_draw(space, rng) for _ in range(n)]
    finals = [
        0.97 - 0.15 * (math.log10(h["lr"]) - math.log10(BEST_LR)) ** 2 + rng.gauss(0, 0.002)
        for h in draws
    ]
    # ASHA judges a trial by its early score, a noisy guess at its final one.
    early = [final + rng.gauss(0, 0.05) for final in finals]
    cut = sorted(early)[n // 2]
    trials = []
    lanes = [1000.0, 1000.0]  # when each of the two parallel slots is next free
    for i, (hparams, final) in enumerate(zip(draws, finals, strict=True)):
        completed = early[i] >= cut
        epochs = config.train.max_epochs if completed else 2
        curve = [(e, final * (1 - 0.6**e)) for e in range(1, epochs + 1)]
        if completed and i % 3 == 0:
            curve[-1] = (epochs, curve[-2][1] - 0.01)
        lane = min(range(2), key=lambda k: lanes[k])
        started = lanes[lane]
        lanes[lane] = started + epochs
        history = tuple(
            {"epoch": e, "val_acc": value, "timestamp": started + e} for e, value in curve
        )
        trials.append(
            TrialRecord(
                run_name(i + 1, hparams, space.tuned),
                "completed" if completed else "stopped early",
                hparams,
                max(value for _, value in curve),
                epochs,
                curve=tuple(curve),
                history=history,
                number=i + 1,
                last=curve[-1][1],
                started=started,
                ended=started + epochs,
            )
        )
    return sorted(trials, key=lambda trial: -float(trial.best or 0))


@pytest.fixture(scope="session")
def fake_trials() -> Callable[..., list[TrialRecord]]:
    """``fake_trials(config, n, seed=0)``: ``n`` trials where only the learning rate matters."""
    return _trials


@pytest.fixture(scope="session")
def all_plots() -> list[str]:
    """Every plot a report with enough trials draws, in the order the summary shows them."""
    return [
        OPTIMIZATION_HISTORY_PNG,
        LEARNING_CURVES_PNG,
        METRIC_VS_HPARAMS_PNG,
        PARALLEL_COORDINATES_PNG,
        IMPORTANCE_PNG,
    ]


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    # The report tests are about reading trials, not the space: the tables' own ranges.
    return load_config(QUICKSTART, ["space.bounds=table", "space.prior=uniform"])


@pytest.fixture(scope="module")
def trials(config: ExperimentConfig) -> list[TrialRecord]:
    return _trials(config, 24)


@pytest.fixture(scope="module")
def importance(config: ExperimentConfig, trials: list[TrialRecord]) -> Importance:
    return hparam_importance(
        trials, config.search_space(), "val_acc", "max", config.train.max_epochs
    )
