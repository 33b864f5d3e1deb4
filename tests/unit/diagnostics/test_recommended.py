"""What the checks before a search start from: the tables' recommended configuration, the
model builder they may use, their torch threads put back afterwards, and training that stops
mid-epoch when asked."""

from __future__ import annotations

import pytest
import torch

from raytune_hp.config import load_config
from raytune_hp.data import load_data
from raytune_hp.diagnostics.recommended import (
    StopTraining,
    builder_for_checks,
    objective_for_checks,
    recommended_configuration,
    torch_threads,
    train_until_stopped,
)
from raytune_hp.errors import ConfigError, RaytuneHPError
from raytune_hp.training import set_up_training

QUICKSTART = "configs/quickstart.yaml"


def test_the_recommended_configuration_is_the_tables_start() -> None:
    hp = recommended_configuration(load_config(QUICKSTART))
    assert (hp["optimizer"], hp["lr"], hp["batch_size"], hp["dropout"]) == ("adam", 1e-3, 128, 0.5)


def test_a_training_function_without_a_builder_cannot_be_checked() -> None:
    config = load_config(QUICKSTART, ["train.function=examples.custom:train"])
    with pytest.raises(ConfigError, match=r"model.builder must be given .* got train.function"):
        builder_for_checks(config, None)
    given = lambda *_: torch.nn.Linear(1, 1)  # noqa: E731
    assert builder_for_checks(config, given) is given


def test_torch_threads_are_set_for_the_block_and_put_back() -> None:
    before = torch.get_num_threads()
    with torch_threads(1) as count:
        assert count == torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    refused = pytest.raises(RaytuneHPError, match="threads must be an integer ≥ 1; got 0")
    with refused, torch_threads(0):
        pass


def test_training_stops_mid_epoch_when_a_step_says_so() -> None:
    config = load_config(QUICKSTART)
    data = load_data("digits", 0.2, 0)
    hp = recommended_configuration(config)
    setup = set_up_training(
        hp, builder_for_checks(config, None), data.input_shape, data.num_outputs, seed=0,
        device=torch.device("cpu"), total_steps=100,
    )  # fmt: skip
    steps: list[float] = []

    def on_step(loss: torch.Tensor, lr: float) -> None:
        steps.append(float(loss))
        if len(steps) == 13:  # more than one epoch of 128-sample batches (12 a pass)
            raise StopTraining

    train_until_stopped(setup, data, 128, on_step)
    assert len(steps) == 13  # stopped inside the second epoch, not at its end


def test_the_checks_learn_the_task_they_are_given_else_a_classification() -> None:
    config = load_config(QUICKSTART)
    assert objective_for_checks(config, None, None) == ("classification", None)
    assert objective_for_checks(config, "regression", torch.nn.functional.l1_loss) == (
        "regression",
        torch.nn.functional.l1_loss,
    )
