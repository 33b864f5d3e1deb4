"""The batch-size study, on digits with the quickstart config.

Runs use one torch thread: timings on a machine whose cores other processes share are far
steadier with one thread than with all of them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.data import Dataset
from raytune_hp.diagnostics import BatchStudyResult, BatchStudyRow, batch_study
from raytune_hp.diagnostics.batch_size_study import _default_batch_sizes, _reading
from raytune_hp.errors import RaytuneHPError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> BatchStudyResult:
    return batch_study(
        quickstart,
        digits,
        tmp_path_factory.mktemp("bs"),
        batch_sizes=(256, 32),
        target=0.5,
        max_epochs=3,
        progress=False,
        threads=1,
    )


def _assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    height, width, _ = matplotlib.image.imread(path).shape
    assert height > 300 and width > 600


# --- batch-size study -------------------------------------------------------------------------


def test_batch_study_writes_a_plot_and_a_table(study: BatchStudyResult) -> None:
    _assert_png(study.plot)
    assert study.plot.name == "batch_study.png"
    table = study.table.read_text()
    assert study.table.name == "batch_study.md"
    assert "| batch size | s / epoch (mean) | epochs to target |" in table
    assert "| 32 |" in table and "| 256 |" in table
    assert "Reading: " in table and "fastest to the target: batch " in table
    assert study.device in table and "1 torch thread." in table


def test_batch_study_rows_hold_the_measurements(study: BatchStudyResult) -> None:
    assert study.metric == "val_acc" and study.target == 0.5 and study.max_epochs == 3
    assert study.lr == 1e-3 and study.threads == 1
    assert [row.batch_size for row in study.rows] == [32, 256]
    for row in study.rows:
        assert isinstance(row, BatchStudyRow)
        assert 1 <= row.epochs_run <= 3 and row.seconds_per_epoch > 0
        if row.epochs_to_target is None:
            assert row.seconds_to_target is None and row.epochs_run == 3
            assert row.final_metric < 0.5
        else:
            assert row.epochs_to_target == row.epochs_run and row.final_metric >= 0.5
            assert row.seconds_to_target is not None
            assert row.seconds_to_target >= row.seconds_per_epoch * row.epochs_run * 0.5
    assert study.rows[0].epochs_to_target is not None  # 45 steps an epoch reach 50 % at once


def test_bigger_batches_run_faster_epochs(digits: Dataset, tmp_path: Path) -> None:
    # The quickstart's own model, with the space's small MLP in place of the CNN: on a CPU the
    # CNN's epoch is per-sample compute (about 0.15-0.2 s at every batch size from 32 to 256),
    # so the per-step overhead that bigger batches save is lost in timing noise; the MLP's epoch
    # is mostly that overhead, so the effect the study measures is well above the noise.
    config = load_config("configs/quickstart.yaml", ["model.name=mlp"])
    study = batch_study(
        config, digits, tmp_path, batch_sizes=(32, 256), target=0.5, max_epochs=3,
        progress=False, threads=1,
    )  # fmt: skip
    small, large = study.rows
    assert large.seconds_per_epoch < 0.7 * small.seconds_per_epoch
    assert "bigger batches → faster epochs" in study.reading


def test_default_batch_sizes_are_the_spaces_powers_of_two_within_16_to_512(
    quickstart: ExperimentConfig,
) -> None:
    assert _default_batch_sizes(quickstart, 1437) == [32, 64, 128, 256]
    wide = load_config("configs/quickstart.yaml", ["space.batch_size=64"])  # fixed: table range
    assert _default_batch_sizes(wide, 1437) == [16, 32, 64, 128, 256, 512]
    assert _default_batch_sizes(wide, 100) == [16, 32, 64]


def test_batch_study_refuses_a_batch_size_that_is_not_a_power_of_two(
    quickstart: ExperimentConfig, digits: Dataset, tmp_path: Path
) -> None:
    with pytest.raises(RaytuneHPError, match=r"powers of two ≥ 1; got \[32, 100\]"):
        batch_study(quickstart, digits, tmp_path, batch_sizes=[32, 100], progress=False)


def test_reading_reports_what_the_numbers_say() -> None:
    row = functools.partial(BatchStudyRow, epochs_run=5, final_metric=0.96)
    usual = [
        row(32, 0.4, epochs_to_target=2, seconds_to_target=1.0),
        row(256, 0.1, epochs_to_target=5, seconds_to_target=0.6),
    ]
    text = _reading(usual, "val_acc")
    assert "bigger batches → faster epochs" in text and "4.0× faster" in text
    assert "more epochs needed (5 at 256 vs 2 at 32)" in text
    assert "fastest to the target: batch 256" in text
    odd = [
        row(32, 0.1, epochs_to_target=None, seconds_to_target=None),
        row(256, 0.2, epochs_to_target=None, seconds_to_target=None),
    ]
    text = _reading(odd, "val_acc")
    assert "did not give faster epochs" in text and "no batch size reached" in text
    close = [
        row(32, 0.20, epochs_to_target=3, seconds_to_target=0.7),
        row(256, 0.18, epochs_to_target=3, seconds_to_target=0.6),
    ]
    text = _reading(close, "val_acc")
    assert "epochs take about as long at 256 as at 32 (0.18 s vs 0.20 s" in text
    assert "no more epochs needed (3 at 256 vs 3 at 32)" in text


# --- a regression task ------------------------------------------------------------------------


def test_batch_study_runs_on_a_regression_task_with_a_target(
    regression: Dataset, tmp_path: Path
) -> None:
    config = load_config("configs/quickstart.yaml", ["model.name=mlp", "train.metric=val_rmse"])
    study = batch_study(
        config, regression, tmp_path, batch_sizes=(32, 256), target=0.5, max_epochs=3,
        progress=False, threads=1, task="regression",
    )  # fmt: skip
    assert study.metric == "val_rmse" and "val_rmse ≤ 0.5" in study.table.read_text()
    assert all(0 < row.final_metric < 1.0 for row in study.rows)
    assert study.rows[0].epochs_to_target is not None  # 25 steps an epoch reach it at once


def test_batch_study_asks_for_a_target_the_metric_has_no_default_for(
    regression: Dataset, digits: Dataset, tmp_path: Path
) -> None:
    regress = ["model.name=mlp", "train.task=regression"]
    config = load_config("configs/quickstart.yaml", [*regress, "train.metric=val_rmse"])
    with pytest.raises(RaytuneHPError) as error:
        batch_study(config, regression, tmp_path, progress=False)
    assert str(error.value) == (
        "batch-study: --target must be given for train.metric val_rmse of a regression task (its "
        "scale depends on the data); got none"
    )
    mse = load_config("configs/quickstart.yaml", [*regress, "train.metric=val_loss"])
    with pytest.raises(RaytuneHPError, match=r"--target must be given for train\.metric val_loss"):
        batch_study(mse, regression, tmp_path, progress=False)
    with pytest.raises(RaytuneHPError) as error:
        batch_study(config, digits, tmp_path, target=0.5, progress=False, task="classification")
    assert str(error.value) == (
        "batch-study: train.metric must be one the classification task reports (val_acc, "
        "val_loss); got val_rmse"
    )
