"""The training loop's pieces, shared by a trial and by the checks run before a search.

:func:`set_up_training` builds what a run trains with from its hyperparameters, in one order
from one seed: the model, the optimizer, the lr schedule, the batch order and the step's tricks
(:class:`StepRule`). :func:`train_one_epoch` and :func:`evaluate` then train and measure it.
Plain functions of torch objects, with no Ray in sight, so what a check measures is what a trial
does.

Example:
    >>> import functools, torch
    >>> from raytune_hp.data import load_data
    >>> from raytune_hp.models import build_model
    >>> data = load_data("digits", 0.2, seed=0)
    >>> hp = {"optimizer": "adam", "lr": 1e-2, "batch_size": 64, "hidden_size": 32,
    ...       "num_layers": 1, "dropout": 0.0}
    >>> setup = set_up_training(hp, functools.partial(build_model, "mlp"), data.input_shape,
    ...                         data.num_classes, seed=0, device=torch.device("cpu"),
    ...                         total_steps=3 * 23)
    >>> for _ in range(3):
    ...     train_loss = setup.train_epoch(data.x_train, data.y_train, hp["batch_size"])
    >>> val_loss, val_acc = evaluate(setup.model, data.x_val, data.y_val)
    >>> val_acc > 0.8
    True
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raytune_hp.devices import autocast
from raytune_hp.lr_schedules import build_scheduler
from raytune_hp.spaces import LR, OPTIMIZER, OPTIMIZERS


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch so two runs of one configuration agree on the CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclasses.dataclass(frozen=True)
class StepRule:
    """How one optimizer step is taken: the tricks of the tables that act on every step."""

    label_smoothing: float = 0.0
    grad_clip: float | None = None

    @classmethod
    def from_hp(cls, hp: Mapping[str, Any]) -> StepRule:
        clip = hp.get("grad_clip")
        return cls(float(hp.get("label_smoothing", 0.0)), float(clip) if clip else None)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    on_step: Callable[[torch.Tensor, float], None] | None = None,
    rule: StepRule = StepRule(),
    precision: str = "fp32",
) -> float:
    """One pass over ``(x, y)`` in a seeded random order; returns the mean training loss.

    Batches are trained on the model's device (``x`` may live there already, or in host memory).
    ``on_step(loss, lr)`` sees every step's loss as a detached 0-dim tensor on that device and the
    learning rate the step used: reading the loss (``float(loss)``) waits for the GPU, so the loop
    itself never does, and the one synchronisation is the mean returned at the end.
    """
    model.train()
    device = next(model.parameters()).device
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total = torch.zeros((), device=device)
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        inputs = x[idx].to(device, non_blocking=True)
        targets = y[idx].to(device, non_blocking=True)
        with autocast(device, precision):
            loss = F.cross_entropy(model(inputs), targets, label_smoothing=rule.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if rule.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), rule.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        total += loss.detach().float() * len(idx)
        if on_step is not None:
            on_step(loss.detach(), lr)
    return float(total) / len(x)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    precision: str = "fp32",
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy on ``(x, y)``, read from the device once at the end."""
    model.eval()
    device = next(model.parameters()).device
    loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for start in range(0, len(x), batch_size):
        inputs = x[start : start + batch_size].to(device, non_blocking=True)
        target = y[start : start + batch_size].to(device, non_blocking=True)
        with autocast(device, precision):
            logits = model(inputs)
        loss += F.cross_entropy(logits.float(), target, reduction="sum")
        correct += (logits.argmax(dim=1) == target).sum()
    return float(loss) / len(x), int(correct) / len(x)


@dataclasses.dataclass(frozen=True)
class TrainingSetup:
    """What a run trains with, as :func:`set_up_training` builds it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # the batch order's, seeded apart from torch's global one
    rule: StepRule

    def train_epoch(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        on_step: Callable[[torch.Tensor, float], None] | None = None,
        precision: str = "fp32",
    ) -> float:
        """:func:`train_one_epoch` with this set-up's model, optimizer, schedule, batch order and
        step rule; returns the mean training loss."""
        return train_one_epoch(
            self.model, self.optimizer, self.scheduler, x, y, batch_size, self.generator,
            on_step, self.rule, precision,
        )  # fmt: skip


def set_up_training(
    hp: Mapping[str, Any],
    builder: Callable[..., nn.Module],
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    seed: int,
    device: torch.device,
    total_steps: int,
    lr: float | None = None,
    schedule: Callable[[int], float] | None = None,
) -> TrainingSetup:
    """Seeds everything, then builds the model, optimizer, lr schedule and batch order of a run.

    The order is fixed, so one configuration and seed give the same initial weights and the same
    batches wherever it is set up: :func:`seed_everything`, the model from
    ``builder(hp, input_shape, num_classes)`` on ``device``, the optimizer ``hp["optimizer"]``
    at ``hp["lr"]`` with ``hp["weight_decay"]`` (default 0), the config's lr schedule
    (:func:`raytune_hp.lr_schedules.build_scheduler`) over ``total_steps``, a batch-order
    generator seeded with ``seed``, and the step rule of ``hp``.

    Args:
        hp: the run's flat hyperparameters.
        builder: ``(hp, input_shape, num_classes) -> nn.Module``.
        input_shape: the shape of one input, without the batch dimension.
        num_classes: the number of classes.
        seed: seeds Python, NumPy and torch before the model is built, and the batch order.
        device: where the model trains.
        total_steps: optimizer steps in the whole run, for the schedule.
        lr: the optimizer's base lr in place of ``hp["lr"]``.
        schedule: the multiplier of the base lr at each 1-based optimizer step, in place of the
            config's schedule (as :func:`raytune_hp.lr_schedules.multiplier` gives it).

    Returns:
        The model, optimizer, scheduler, generator and step rule.

    Raises:
        ValueError: as :func:`raytune_hp.lr_schedules.build_scheduler`, for the config's schedule.

    Example:
        >>> import functools, torch
        >>> from raytune_hp.models import build_model
        >>> hp = {"optimizer": "sgd", "lr": 0.1, "hidden_size": 8, "num_layers": 1,
        ...       "dropout": 0.0}
        >>> setup = set_up_training(hp, functools.partial(build_model, "mlp"), (4,), 2, seed=0,
        ...                         device=torch.device("cpu"), total_steps=10, lr=1e-3,
        ...                         schedule=lambda step: 1.0)
        >>> setup.optimizer.param_groups[0]["lr"]
        0.001
    """
    seed_everything(seed)
    model = builder(hp, input_shape, num_classes).to(device)
    optimizer = OPTIMIZERS[str(hp[OPTIMIZER])].build(
        model.parameters(), hp[LR] if lr is None else lr, hp.get("weight_decay", 0.0)
    )
    if schedule is None:
        scheduler = build_scheduler(optimizer, hp, total_steps)
    else:
        # LambdaLR's index is the number of steps taken: the next step is index + 1.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: schedule(i + 1))
    generator = torch.Generator().manual_seed(seed)
    return TrainingSetup(model, optimizer, scheduler, generator, StepRule.from_hp(hp))
