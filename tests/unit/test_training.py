"""The loop's pieces without Ray: every optimizer of the table steps, a step hands its loss over
without waiting for the device, and one set-up gives one run."""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np
import pytest
import torch

from raytune_hp.data import Dataset
from raytune_hp.models import build_model
from raytune_hp.spaces import OPTIMIZERS
from raytune_hp.training import (
    StepRule,
    TrainingSetup,
    set_up_training,
    train_one_epoch,
)

HP: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 3e-3,
    "batch_size": 64,
    "dropout": 0.3,
    "weight_decay": 1e-5,
    "kernel_size": 3,
    "num_kernels": 100,
    "num_layers": 1,
}


def _set_up(data: Dataset, hp: dict[str, Any] = HP, **overrides: Any) -> TrainingSetup:
    return set_up_training(
        hp,
        functools.partial(build_model, "cnn"),
        data.input_shape,
        data.num_outputs,
        seed=7,
        device=torch.device("cpu"),
        total_steps=2 * data.steps_per_epoch(hp["batch_size"]),
        **overrides,
    )


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_of_the_table_trains(name: str) -> None:
    model = torch.nn.Linear(4, 2)
    optimizer = OPTIMIZERS[name].build(model.parameters(), lr=OPTIMIZERS[name].low, weight_decay=0)
    before = model.weight.detach().clone()
    loss = model(torch.ones(8, 4)).pow(2).sum()
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.weight)
    if name == "momentum":
        assert optimizer.param_groups[0]["momentum"] == 0.9


def test_steps_hand_over_their_loss_on_the_device_without_reading_it(digits: Dataset) -> None:
    model = build_model("cnn", HP, digits.input_shape, digits.num_outputs)
    optimizer = OPTIMIZERS["adam"].build(model.parameters(), 1e-3, 0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    seen: list[Any] = []
    mean, _ = train_one_epoch(
        model, optimizer, scheduler, digits.train_batches(256, torch.Generator().manual_seed(0)),
        lambda loss, lr: seen.append(loss),
    )  # fmt: skip
    assert all(isinstance(loss, torch.Tensor) and loss.ndim == 0 for loss in seen)
    assert len(seen) == -(-len(digits.x_train) // 256)
    assert mean == pytest.approx(float(torch.stack(seen).mean()), rel=0.05)


def test_one_configuration_and_seed_set_up_the_same_run(digits: Dataset) -> None:
    hp = {**HP, "schedule": "cosine", "label_smoothing": 0.1, "grad_clip": 1.0}
    first = _set_up(digits, hp)
    initial = {name: value.clone() for name, value in first.model.state_dict().items()}
    first_loss = first.train_epoch(digits, hp["batch_size"])
    # Whatever ran in between, the set-up seeds everything itself before building the model.
    torch.manual_seed(123)
    random.seed(123)
    np.random.seed(123)
    second = _set_up(digits, hp)
    assert initial.keys() == second.model.state_dict().keys()
    for name, value in second.model.state_dict().items():
        assert torch.equal(initial[name], value), name
    assert second.rule == StepRule(label_smoothing=0.1, grad_clip=1.0)
    assert second.train_epoch(digits, hp["batch_size"]) == first_loss
    assert second.optimizer.param_groups[0]["lr"] == first.optimizer.param_groups[0]["lr"]


def test_the_lr_override_is_the_optimizers_lr(digits: Dataset) -> None:
    assert _set_up(digits).optimizer.param_groups[0]["lr"] == HP["lr"]
    assert _set_up(digits, lr=1e-5).optimizer.param_groups[0]["lr"] == 1e-5


def test_a_schedule_override_replaces_the_configs_schedule(digits: Dataset) -> None:
    # The override is the multiplier of the 1-based optimizer step, as lr_schedules gives it.
    setup = _set_up(digits, {**HP, "schedule": "cosine"}, lr=0.1, schedule=lambda step: 1 / step)
    used: list[float] = []
    head = Dataset(digits.x_train[:256], digits.y_train[:256], digits.x_val, digits.y_val, 10)
    setup.train_epoch(head, 64, on_step=lambda loss, lr: used.append(lr))
    assert used == pytest.approx([0.1, 0.1 / 2, 0.1 / 3, 0.1 / 4])
