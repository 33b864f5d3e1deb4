"""The rules the config's sections check: across fields, over the space, and the config object
itself (frozen, saved as YAML and loaded again)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from raytune_hp.config import load_config
from raytune_hp.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = REPO / "configs" / "quickstart.yaml"


def test_grace_period_beyond_the_epoch_budget_is_refused(
    tmp_path: Path,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    assert_grammar: Callable[..., None],
) -> None:
    path = write_config(tmp_path, "train:\n  max_epochs: 3\nearly_stopping:\n  grace_period: 5\n")
    assert_grammar(
        config_error(path), path, "early_stopping.grace_period", "be ≤ train.max_epochs (3)", "5"
    )


def test_grace_period_does_not_matter_without_early_stopping(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    text = "train:\n  max_epochs: 3\nearly_stopping:\n  name: none\n  grace_period: 5\n"
    assert load_config(write_config(tmp_path, text)).early_stopping.name == "none"


# --- space overrides ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("space", "key", "rule", "given"),
    [
        ("momentum: 0.9", "space.momentum", "be one of the cnn space's", "'momentum'"),
        ("batch_size: 100", "space.batch_size", "be a power of two in [1, 1024]", "100"),
        ("batch_size: 64.0", "space.batch_size", "be a power of two in [1, 1024]", "64.0"),
        ("batch_size: {low: 3, high: 64}", "space.batch_size.low", "be a power of two", "3"),
        ("dropout: 0.9", "space.dropout", "be a number in [0, 0.5]", "0.9"),
        ("num_kernels: 50", "space.num_kernels", "be an integer in [100, 600]", "50"),
        ("num_layers: 2.0", "space.num_layers", "be an integer in [1, 4]", "2.0"),
        ("kernel_size: 2", "space.kernel_size", "be one of [1, 3, 5, 7]", "2"),
        ("kernel_size: 3.0", "space.kernel_size", "be one of [1, 3, 5, 7]", "3.0"),
        ("dropout: {low: 0.4, high: 0.1}", "space.dropout.low", "be ≤ space.dropout.high",
         "low=0.4, high=0.1"),
        ("optimizer: [adam, lion]", "space.optimizer", "be one of ['sgd', 'momentum'", "'lion'"),
        ("lr: 0.5", "space.lr", "lie in the range of every optimizer", "0.5"),
    ],
    ids=["unknown", "batch-not-pow2", "batch-float", "batch-range-not-pow2", "dropout-0.9",
         "num_kernels-50", "num_layers-float", "kernel_size-2", "kernel_size-float", "low>high",
         "unknown-optimizer", "lr-outside"],
)  # fmt: skip
def test_a_space_override_outside_the_tables_is_refused(
    tmp_path: Path,
    space: str,
    key: str,
    rule: str,
    given: str,
    write_config: Callable[..., Path],
    config_error: Callable[..., str],
    assert_grammar: Callable[..., None],
) -> None:
    path = write_config(tmp_path, f"space:\n  {space}\n")
    assert_grammar(config_error(path), path, key, rule, given)


def test_an_lr_range_that_misses_an_optimizer_says_which_and_how_to_fix(
    tmp_path: Path, write_config: Callable[..., Path], config_error: Callable[..., str]
) -> None:
    path = write_config(tmp_path, "space:\n  lr: {low: 1.0e-5, high: 1.0e-4}\n")
    message = config_error(path)
    assert message.startswith(f"{path}: space.lr must overlap the range of every optimizer")
    assert "misses sgd's [0.01, 0.1]" in message
    assert "restrict space.optimizer" in message


def test_restricting_the_optimizer_makes_a_low_lr_range_valid(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    text = "space:\n  optimizer: [adamw, adam]\n  lr: {low: 1.0e-4, high: 2.0e-3}\n"
    space = load_config(write_config(tmp_path, text)).search_space()
    assert space["optimizer"].choices == ("adamw", "adam")
    assert space.lr_range("adamw") == (1e-4, 2e-3)
    assert space.lr_range("adam") == (1e-3, 2e-3)


def test_a_config_is_frozen() -> None:
    config = load_config(QUICKSTART)
    with pytest.raises(ValidationError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.search.num_samples = 1  # type: ignore[misc]


def test_to_yaml_round_trips_through_load_config(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    config = load_config(QUICKSTART, ["seed=7", "space.optimizer=[adam, sgd]"])
    path = write_config(tmp_path, config.to_yaml(), "elsewhere.yaml")
    again = load_config(path)
    assert again == config
    assert again.name == "quickstart"  # the saved name wins over the new file's stem
    assert yaml.safe_load(config.to_yaml())["search"]["strategy"] == "bayes"  # defaults filled


def test_a_folder_written_before_capacity_existed_still_reads(tmp_path: Path) -> None:
    # config.yaml of experiments started before train.capacity: allow_oversized said the same.
    (tmp_path / "old.yaml").write_text("train: {allow_oversized: true}\n")
    assert load_config(tmp_path / "old.yaml").train.capacity == "warn"
    (tmp_path / "older.yaml").write_text("train: {allow_oversized: false}\n")
    assert load_config(tmp_path / "older.yaml").train.capacity == "skip"


def test_the_metric_defaults_to_the_tasks_and_knows_its_direction(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("model: {name: mlp}\ntrain: {task: regression}\n")
    train = load_config(tmp_path / "r.yaml").train
    assert (train.metric, train.mode) == ("val_rmse", "min")
    (tmp_path / "w.yaml").write_text("train: {metric: val_loss, mode: max}\n")
    with pytest.raises(ConfigError, match=r"train.mode must be min for val_loss"):
        load_config(tmp_path / "w.yaml")


def test_more_than_one_gpu_a_trial_only_for_a_training_function_of_ones_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "two.yaml").write_text("resources: {gpus_per_trial: 2}\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "two.yaml")
    assert str(error.value) == (
        f"{tmp_path / 'two.yaml'}: resources.gpus_per_trial must be at most 1 for the built-in "
        "training loop (it trains on one GPU; a train.function of yours gets every GPU Ray "
        "assigns); got 2"
    )
    (tmp_path / "own.yaml").write_text(
        "resources: {gpus_per_trial: 2}\n"
        "train: {function: 'examples.custom:train', metric: val_acc}\n"
    )
    assert load_config(tmp_path / "own.yaml").resources.gpus_per_trial == 2
