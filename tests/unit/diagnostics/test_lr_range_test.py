"""The lr range test, with the smoke test it runs after its sweep, on digits with the quickstart
config.

Runs use one torch thread: timings on a machine whose cores other processes share are far
steadier with one thread than with all of them.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.data import Dataset
from raytune_hp.diagnostics import LrFindResult, lr_find
from raytune_hp.diagnostics.lr_range_test import _suggest
from raytune_hp.errors import ConfigError, RaytuneHPError
from raytune_hp.models import build_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def found(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> LrFindResult:
    """The real thing: 300 steps from 1e-7 to 10, with the smoke test at 1e-4 and 1e-3."""
    return lr_find(quickstart, digits, tmp_path_factory.mktemp("lr"), progress=False, threads=1)


def _assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 300 and width > 600


# --- lr range test ----------------------------------------------------------------------------


def test_lr_find_suggests_a_plausible_rate_and_plots_it(found: LrFindResult) -> None:
    assert 1e-4 <= found.suggestion <= 1.0
    assert "steep" in found.reason
    assert found.optimizer == "adam"
    # bayes searches Adam's table range (1e-3..1e-2) widened tenfold each way under its prior.
    assert found.search_range == (1e-4, 1e-1)
    assert found.in_range == (1e-4 <= found.suggestion <= 1e-1)
    _assert_png(found.plot)
    assert found.plot.name == "lr_find.png"
    assert f"{found.suggestion:.2e}" in found.summary()


def test_lr_find_sweeps_the_rate_exponentially(found: LrFindResult) -> None:
    lrs = found.lrs
    assert len(lrs) == 300 and not found.diverged
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10.0)
    ratios = [b / a for a, b in itertools.pairwise(lrs)]
    assert max(ratios) == pytest.approx(min(ratios), rel=1e-6)


def test_lr_find_loss_falls_then_rises(found: LrFindResult) -> None:
    smoothed = found.smoothed
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    assert 0 < lowest < len(smoothed) - 1  # the valley lies strictly inside the run
    assert smoothed[0] > smoothed[lowest] * 2  # it fell a lot...
    assert smoothed[-1] > smoothed[lowest] * 1.5  # ...and rose again at the end
    assert found.lrs[lowest] > found.suggestion  # the suggestion lies on the way down


def test_lr_find_stops_after_the_given_steps(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path: Path
) -> None:
    before = torch.get_num_threads()
    result = lr_find(
        quickstart, digits, tmp_path, steps=8, start_lr=1e-7, end_lr=1e-6,
        progress=False, smoke_lrs=(), threads=1,
    )  # fmt: skip
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) == 8
    assert not result.diverged
    assert result.lrs[-1] == pytest.approx(1e-6)
    assert result.smoke_tests == ()
    assert torch.get_num_threads() == before
    _assert_png(result.plot)


def test_lr_find_stops_once_the_smoothed_loss_exceeds_four_times_its_minimum(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path: Path
) -> None:
    result = lr_find(
        quickstart, digits, tmp_path, steps=40, start_lr=1e-3, end_lr=1e4,
        progress=False, smoke_lrs=(), threads=1,
    )  # fmt: skip
    smoothed = result.smoothed
    assert result.diverged and len(smoothed) < 40
    last = smoothed[-1]
    assert not math.isfinite(last) or last > 4 * min(smoothed)
    # It stops at the first step that breaks the rule, not later.
    assert all(s <= 4 * min(smoothed[: i + 1]) for i, s in enumerate(smoothed[:-1]))
    assert "stopped" in result.summary()
    _assert_png(result.plot)


def test_lr_find_uses_the_builder_it_is_given(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path: Path
) -> None:
    calls: list[dict[str, Any]] = []

    def builder(hp: dict[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> Any:
        calls.append(dict(hp))
        mlp = {"hidden_size": 16, "num_layers": 1, "dropout": 0.0}
        return build_model("mlp", mlp, input_shape, num_outputs)

    lr_find(
        quickstart, digits, tmp_path, steps=5, progress=False, builder=builder,
        smoke_lrs=(1e-3,), threads=1,
    )  # fmt: skip
    assert len(calls) == 2  # the range test's model and the smoke test's
    assert calls[0]["optimizer"] == "adam" and calls[0]["batch_size"] == 128


def test_lr_find_refuses_bad_arguments(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path: Path
) -> None:
    with pytest.raises(RaytuneHPError, match=r"steps must be an integer ≥ 2; got 1"):
        lr_find(quickstart, digits, tmp_path, steps=1, progress=False)
    with pytest.raises(RaytuneHPError, match=r"0 < start_lr < end_lr; got start_lr 1.0"):
        lr_find(quickstart, digits, tmp_path, start_lr=1.0, end_lr=1e-3, progress=False)


def test_lr_find_needs_a_builder_when_a_function_trains(digits: Dataset, tmp_path: Path) -> None:
    config = load_config("configs/quickstart.yaml", ["train.function=examples.custom:train"])
    with pytest.raises(ConfigError, match=r"model.builder must be given .* got train.function"):
        lr_find(config, digits, tmp_path, progress=False)


def test_suggestion_is_the_steepest_descent_of_the_smoothed_loss() -> None:
    lrs = [10 ** (-6 + i * 0.1) for i in range(61)]
    # A sigmoid-shaped drop centred on lr 1e-3, then a rise: steepest at 1e-3.
    losses = [2 - 1.5 / (1 + math.exp(-4 * (math.log10(lr) + 3))) for lr in lrs]
    losses[-10:] = [losses[-11] + 0.2 * k for k in range(1, 11)]
    lr, reason = _suggest(lrs, losses, steps=61)
    assert lr == pytest.approx(1e-3, rel=0.3)
    assert "steep" in reason and "min/10" in reason


def test_suggestion_falls_back_to_min_over_ten_when_the_loss_never_falls() -> None:
    lrs = [10 ** (-6 + i * 0.1) for i in range(30)]
    lr, reason = _suggest(lrs, [1.0 + 0.01 * i for i in range(30)], steps=30)
    assert lr == pytest.approx(lrs[3] / 10)  # the first point after the skipped tenth
    assert "never fell" in reason


# --- smoke test -------------------------------------------------------------------------------


def test_smoke_test_learns_at_1e_3_from_one_initialisation(found: LrFindResult) -> None:
    low, high = found.smoke_tests
    assert (low.lr, high.lr) == (1e-4, 1e-3)
    assert low.loss_before == high.loss_before  # the same initial weights
    assert high.learns and high.loss_after < 0.9 * high.loss_before
    assert high.loss_after < low.loss_after  # 1e-3 learns faster than 1e-4 here
    assert "learns" in high.describe()


# --- a regression task ------------------------------------------------------------------------


def test_lr_find_and_its_smoke_test_run_on_a_regression_task(
    regression: Dataset, tmp_path: Path
) -> None:
    config = load_config("configs/quickstart.yaml", ["model.name=mlp"])
    result = lr_find(
        config, regression, tmp_path, steps=100, end_lr=1.0, progress=False, smoke_lrs=(1e-3,),
        threads=1, task="regression",
    )  # fmt: skip
    assert result.loss == "mean squared error"
    assert min(result.smoothed) < 0.7 * result.smoothed[0]  # the MSE fell along the sweep
    (smoke,) = result.smoke_tests
    # From the same initialisation as the sweep: the training set's MSE, dropout off.
    assert smoke.learns and smoke.loss_before == pytest.approx(result.losses[0], rel=0.5)
    _assert_png(result.plot)
