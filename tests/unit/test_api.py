"""The Python API's input side, before any Ray starts: a config built in Python is checked as a
YAML file is, with the same one-line messages; code handed over as objects is recorded in the
config, and handing the same code over twice, or data beside a built-in set, is refused."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import raytune_hp
from raytune_hp.api import _hand_over
from raytune_hp.config import config_from, load_config
from raytune_hp.errors import ConfigError
from raytune_hp.user_code import UserCode, record


def _train(hp: Any, data: Any, report: Any, *, max_epochs: int, state: Any = None) -> None:
    raise AssertionError("never called: these tests stop before any trial")


def test_a_config_from_python_is_refused_in_one_line_before_ray_starts(tmp_path: Path) -> None:
    storage = str(tmp_path / "runs")
    with pytest.raises(ConfigError) as error:
        raytune_hp.tune({"name": "x", "storage": storage, "search": {"num_samples": 0}})
    assert str(error.value) == "experiment: search.num_samples must be ≥ 1; got 0"
    assert not (tmp_path / "runs").exists()
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_python_and_yaml_configs_get_the_same_message(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("space:\n  batch_size: 100\n")
    with pytest.raises(ConfigError) as from_file:
        load_config(tmp_path / "exp.yaml")
    with pytest.raises(ConfigError) as from_python:
        config_from({"name": "exp", "space": {"batch_size": 100}})
    file_message = str(from_file.value).removeprefix(f"{tmp_path / 'exp.yaml'}: ")
    assert str(from_python.value) == f"experiment: {file_message}"
    assert "space.batch_size must be a power of two" in file_message


def test_a_training_function_needs_no_model_and_gets_the_general_tables() -> None:
    raw: dict[str, Any] = {"name": "f", "train": {"metric": "val_f1", "mode": "max"}}
    _hand_over(raw, "train.function", _train, "experiment")
    config = config_from(raw)
    assert config.train.function == record(_train)
    assert config.train.function.startswith("<python: ")
    assert config.model.name == "custom" and config.model.builder is None
    assert set(config.search_space().tuned) == {
        "optimizer", "lr", "batch_size", "dropout", "weight_decay",
    }  # fmt: skip


def test_code_given_twice_or_data_beside_a_built_in_set_is_refused() -> None:
    raw: dict[str, Any] = {"name": "x", "model": {"builder": "examples.custom:build"}}
    with pytest.raises(ConfigError, match=r"^experiment: model.builder must be given once"):
        _hand_over(raw, "model.builder", _train, "experiment")
    with pytest.raises(ConfigError, match=r"^experiment: data.name must be left out"):
        _hand_over({"data": {"name": "digits"}}, "data.loader", (1, 2), "experiment")


def test_a_metric_of_ones_own_needs_its_direction() -> None:
    raw: dict[str, Any] = {"name": "x", "train": {"metric": "val_f1"}}
    _hand_over(raw, "train.function", _train, "experiment")
    with pytest.raises(ConfigError) as error:
        config_from(raw)
    assert str(error.value) == (
        "experiment: train.mode must be given (max or min: which way val_f1 is better) for a "
        "metric of your own; got none for 'val_f1'"
    )


def test_resuming_python_code_says_what_to_hand_over_again() -> None:
    raw: dict[str, Any] = {"name": "x", "train": {"metric": "val_f1", "mode": "max"}}
    _hand_over(raw, "train.function", _train, "experiment")
    config = config_from(raw)
    with pytest.raises(ConfigError) as error:
        UserCode.of(config)
    assert str(error.value) == (
        "train.function must be handed over again as a Python object, as when the experiment "
        "started: raytune_hp.tune(..., train=..., resume=True); got none for "
        f"{record(_train)}"
    )
    assert UserCode.of(config, {"train.function": _train}).function is _train
