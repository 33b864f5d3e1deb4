"""`raytune-hp check`: the rules of thumb, each finding with its numbers, exit 1 when blocking;
and the capacity guard that skips an oversized configuration before training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from torch import nn

from raytune_hp.checks import largest_point, run_checks
from raytune_hp.cli import main
from raytune_hp.config import load_config
from raytune_hp.data import Dataset, load_data
from raytune_hp.metrics import NUM_PARAMS, SKIPPED, TRAIN_SAMPLES
from raytune_hp.spaces import start_point
from raytune_hp.trainable import TrialSettings, train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_an_oversized_model_blocks_with_its_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(CONFIGS / "oversized.yaml")])
    out = capsys.readouterr().out
    assert code == 1
    assert "BLOCKING capacity" in out
    assert "52,975,810 trainable parameters" in out and "1,437 training samples" in out
    assert "at most 718 parameters (½), ideally 143 (1/10)" in out
    assert "why:" in out and "do:" in out


def test_an_oversized_model_is_a_warning_unless_the_config_skips_such_models(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check", str(CONFIGS / "quickstart.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "WARNING  capacity: the recommended configuration's model has 17,010" in out
    assert "are trained and marked in the summary (train.capacity: warn)" in out
    assert "space: 7 tuned hyperparameters" in out and "seeds: fixed at 0" in out


def test_largest_point_takes_every_size_at_its_largest() -> None:
    space = load_config(CONFIGS / "quickstart.yaml").search_space()
    point = largest_point(space)
    # bayes: the wide ranges (the table's 600 kernels widened to 850).
    assert point["num_kernels"] == 850 and point["kernel_size"] == 7
    assert point["batch_size"] == 256 and point["num_layers"] == 1
    assert point["optimizer"] == "adam"
    assert point["lr"] == start_point(space)["lr"]  # not a size: as the search starts


def _bn_builder(hp: dict[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 32),
        nn.Dropout(0.5),
        nn.BatchNorm1d(32),
        nn.Linear(32, num_outputs),
    )


def _rnn_builder(hp: dict[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    return nn.LSTM(8, 16, num_layers=2, dropout=0.3)


def test_batchnorm_small_batches_dropout_before_it_and_rnn_dropout_are_found() -> None:
    config = load_config(CONFIGS / "quickstart.yaml", ["space.batch_size={low: 8, high: 64}"])
    data = load_data("digits", 0.2, 0)
    findings = run_checks(config, data, _bn_builder).findings
    text = "\n".join(f.line() for f in findings)
    assert "BatchNorm with batch sizes from 8, under 16" in text
    assert "dropout directly before BatchNorm (1 place(s))" in text
    rnn = "\n".join(f.line() for f in run_checks(config, data, _rnn_builder).findings)
    assert "dropout inside an RNN's recurrence (LSTM(dropout=0.3))" in rnn


def test_a_forced_grid_over_many_hyperparameters_is_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "check",
            str(CONFIGS / "quickstart.yaml"),
            "--set",
            "search.strategy=grid",
            "--set",
            "search.force_grid=true",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "WARNING  grid over 7 hyperparameters (7,776 trials), forced" in out


def test_a_configuration_above_the_capacity_rule_is_skipped_before_training(
    tmp_path: Path,
) -> None:
    data = load_data("digits", 0.2, 0)
    hp = {
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 64,
        "dropout": 0.5,
        "weight_decay": 0.0,
        "kernel_size": 3,
        "num_kernels": 100,
        "num_layers": 1,
    }
    reports: list[dict[str, Any]] = []
    settings = TrialSettings("cnn", max_epochs=3, seed=0, max_params=718)
    train(hp, data, settings, tmp_path, lambda metrics, state: reports.append(metrics))
    assert len(reports) == 1
    assert reports[0][SKIPPED] is True and reports[0]["epoch"] == 0
    assert reports[0][NUM_PARAMS] == 17010 and reports[0][TRAIN_SAMPLES] == 1437
    assert reports[0]["val_acc"] == 0.0  # the worst result: the searcher moves away
    assert not any(tmp_path.iterdir())  # nothing trained, nothing logged


@pytest.mark.parametrize(
    ("batch_size", "finding"),
    [
        (
            "{kind: int, low: 16, high: 200}",
            "WARNING  batch size: integers in [16, 200], not only powers of two",
        ),
        (
            "{kind: int, low: 16, high: 512, log: true}",
            "WARNING  batch size: integers on a log scale in [16, 512], not only powers of two",
        ),
        (
            "{kind: choice, choices: [24, 48, 96]}",
            "WARNING  batch size: [24, 48, 96] not a power of two",
        ),
        (
            "{kind: int, low: 2, high: 3}",
            "WARNING  batch size: integers in [2, 3], not only powers",
        ),
        ("{kind: int, low: 1, high: 2}", "OK       batch sizes: powers of two in [1, 2]"),
    ],
    ids=["int", "log-int", "choice", "int-3", "int-only-powers"],
)
def test_batch_sizes_the_config_made_integers_or_choices_are_checked(
    batch_size: str, finding: str, digits: Dataset
) -> None:
    config = load_config(CONFIGS / "quickstart.yaml", [f"space.batch_size={batch_size}"])
    text = "\n".join(f.line() for f in run_checks(config, digits).findings)
    assert finding in text
    assert text.count("batch size") == 1


def test_the_space_counts_every_integer_of_a_batch_size_made_integer(digits: Dataset) -> None:
    config = load_config(
        CONFIGS / "quickstart.yaml", ["space.batch_size={kind: int, low: 16, high: 200}"]
    )
    (space,) = [f for f in run_checks(config, digits).findings if f.what.startswith("space:")]
    # 8 optimizers × 185 batch sizes × 4 kernel sizes × 801 kernel counts (bayes widens the
    # table's 100..600 to 50..850; num_layers fixed)
    assert "7 tuned hyperparameters; 4,741,920 discrete combinations × 3 continuous" in space.what


def test_a_training_function_without_a_builder_gets_the_checks_that_need_no_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["check", str(CONFIGS / "custom_function.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    assert "OK       model: not checked: train.function (examples.custom:train) builds" in out
    assert "capacity" not in out.replace("(the capacity rule)", "")
    assert "seeds: fixed at 0" in out and "space: " in out
