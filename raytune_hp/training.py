"""The training loop's pieces, shared by a trial and by the checks run before a search.

:func:`set_up_training` builds what a run trains with from its hyperparameters, in one order
from one seed: the model, the optimizer, the lr schedule, the batch order, the step's tricks
(:class:`StepRule`) and what it learns (:class:`Objective`: classification or regression, the
task's loss or the user's). :func:`train_one_epoch` and :func:`evaluate` then train and measure
it on batches of any form of data (:class:`raytune_hp.data.TrainingData`). Plain functions of
torch objects, with no Ray in sight, so what a check measures is what a trial does.

Example:
    >>> import functools, torch
    >>> from raytune_hp.data import load_data
    >>> from raytune_hp.models import build_model
    >>> data = load_data("digits", 0.2, seed=0)
    >>> hp = {"optimizer": "adam", "lr": 1e-2, "batch_size": 64, "hidden_size": 32,
    ...       "num_layers": 1, "dropout": 0.0}
    >>> setup = set_up_training(hp, functools.partial(build_model, "mlp"), data.input_shape,
    ...                         data.num_outputs, seed=0, device=torch.device("cpu"),
    ...                         total_steps=3 * 23)
    >>> for _ in range(3):
    ...     train_loss, compute_dtype = setup.train_epoch(data, hp["batch_size"])
    >>> metrics = evaluate(setup.model, data.eval_batches("val", 64), setup.objective)
    >>> metrics["val_acc"] > 0.8, compute_dtype
    (True, torch.float32)
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raytune_hp.data import Batch, Part, TrainingData
from raytune_hp.devices import autocast
from raytune_hp.lr_schedules import build_scheduler
from raytune_hp.metrics import TASK_METRICS, VAL_ACC, VAL_LOSS, VAL_MAE, VAL_RMSE, Task
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


LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A user's own loss: ``loss(outputs, targets)`` → the batch's mean, a 0-dim tensor."""


def _shaped_like(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """A regression model's outputs in the targets' shape: (N, 1) outputs for (N,) targets."""
    if outputs.shape == targets.shape:
        return outputs
    if outputs.numel() != targets.numel():
        raise ValueError(
            "regression: the model must give one output per target, outputs of shape "
            f"{tuple(targets.shape)} or (N, 1) for (N,) targets; got {tuple(outputs.shape)}"
        )
    return outputs.reshape(targets.shape)


@dataclasses.dataclass(frozen=True)
class Objective:
    """What a run learns: its task, and the loss it minimises.

    Classification minimises the cross-entropy (with the step rule's label smoothing) and is
    measured by ``val_loss`` and ``val_acc``; regression minimises the mean squared error and is
    measured by ``val_loss`` (the MSE), ``val_rmse`` and ``val_mae``. A user's ``loss`` replaces
    the task's loss in training and in ``val_loss``; the task's other metrics stay. A regression
    model's outputs reach every loss in the targets' shape ((N, 1) outputs become (N,) for (N,)
    targets), and every loss but the built-in cross-entropy sees them as float32.

    Example:
        >>> objective = Objective("regression")
        >>> objective.metrics, objective.describe()
        (('val_rmse', 'val_mae', 'val_loss'), 'mean squared error')
        >>> objective.training_loss(torch.ones(4, 1), torch.zeros(4), StepRule())
        tensor(1.)
    """

    task: Task = "classification"
    loss: LossFunction | None = None

    @property
    def metrics(self) -> tuple[str, ...]:
        """The validation metrics :func:`evaluate` reports for the task."""
        return TASK_METRICS[self.task]

    def describe(self) -> str:
        """The training loss in words, for plots and messages."""
        if self.loss is not None:
            return f"your loss {getattr(self.loss, '__name__', type(self.loss).__name__)}"
        return "cross-entropy" if self.task == "classification" else "mean squared error"

    def training_loss(
        self, outputs: torch.Tensor, targets: torch.Tensor, rule: StepRule
    ) -> torch.Tensor:
        """The batch's mean loss; ``rule``'s label smoothing acts on the cross-entropy only."""
        if self.task == "regression":
            outputs = _shaped_like(outputs.float(), targets)
            return (
                F.mse_loss(outputs, targets) if self.loss is None else self.loss(outputs, targets)
            )
        if self.loss is not None:
            return self.loss(outputs.float(), targets)
        return F.cross_entropy(outputs, targets, label_smoothing=rule.label_smoothing)


def to_device(batch: Batch, device: torch.device, task: Task) -> Batch:
    """A batch on ``device``, with float64 inputs (numpy's default) as float32 and targets as
    the task's loss takes them: class indices, or float32 values."""
    inputs, targets = batch
    inputs = inputs.to(device, non_blocking=True)
    targets = targets.to(device, non_blocking=True)
    if inputs.dtype == torch.float64:
        inputs = inputs.float()
    if task == "regression":
        targets = targets.float()
    elif targets.is_floating_point():
        targets = targets.long()
    return inputs, targets


class EpochResult(NamedTuple):
    """One training pass: the mean training loss, and the dtype the forward pass computed in
    (``torch.bfloat16`` under bf16 autocast; ``None`` when there was no batch)."""

    loss: float
    compute_dtype: torch.dtype | None


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[Batch],
    on_step: Callable[[torch.Tensor, float], None] | None = None,
    rule: StepRule = StepRule(),
    precision: str = "fp32",
    objective: Objective = Objective(),
) -> EpochResult:
    """One optimizer step per ``(inputs, targets)`` batch; returns the mean training loss (per
    sample) and the forward pass's dtype.

    Batches are trained on the model's device (they may live there already, or in host memory).
    ``on_step(loss, lr)`` sees every step's loss as a detached 0-dim tensor on that device and the
    learning rate the step used: reading the loss (``float(loss)``) waits for the GPU, so the loop
    itself never does, and the one synchronisation is the mean returned at the end.
    """
    model.train()
    device = next(model.parameters()).device
    total = torch.zeros((), device=device)
    seen, compute_dtype = 0, None
    for batch in batches:
        inputs, targets = to_device(batch, device, objective.task)
        with autocast(device, precision):
            outputs = model(inputs)
            loss = objective.training_loss(outputs, targets, rule)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if rule.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), rule.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        total += loss.detach().float() * len(targets)
        seen += len(targets)
        compute_dtype = outputs.dtype
        if on_step is not None:
            on_step(loss.detach(), lr)
    return EpochResult(float(total) / seen if seen else math.nan, compute_dtype)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[Batch],
    objective: Objective = Objective(),
    precision: str = "fp32",
) -> dict[str, float]:
    """The task's validation metrics over ``batches`` (``objective.metrics``: ``val_loss`` and
    ``val_acc``, or ``val_loss``, ``val_rmse`` and ``val_mae``), read from the device once at
    the end. ``val_loss`` is the mean per sample of the training loss without its tricks."""
    model.eval()
    device = next(model.parameters()).device
    loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    squared, absolute = torch.zeros((), device=device), torch.zeros((), device=device)
    samples = values = 0
    regression = objective.task == "regression"
    for batch in batches:
        inputs, targets = to_device(batch, device, objective.task)
        with autocast(device, precision):
            outputs = model(inputs)
        outputs = outputs.float()
        if regression:
            error = _shaped_like(outputs, targets) - targets
            squared += error.pow(2).sum()
            absolute += error.abs().sum()
            values += targets.numel()
        else:
            correct += (outputs.argmax(dim=1) == targets).sum()
        if objective.loss is not None:
            outputs = _shaped_like(outputs, targets) if regression else outputs
            loss += objective.loss(outputs, targets).float() * len(targets)
        elif not regression:
            loss += F.cross_entropy(outputs, targets, reduction="sum")
        samples += len(targets)
    if not regression:
        return {VAL_LOSS: float(loss) / samples, VAL_ACC: int(correct) / samples}
    mse = float(squared) / values
    val_loss = mse if objective.loss is None else float(loss) / samples
    return {VAL_LOSS: val_loss, VAL_RMSE: math.sqrt(mse), VAL_MAE: float(absolute) / values}


@dataclasses.dataclass(frozen=True)
class TrainingSetup:
    """What a run trains with, as :func:`set_up_training` builds it."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # the batch order's, seeded apart from torch's global one
    rule: StepRule
    objective: Objective = Objective()

    def train_epoch(
        self,
        data: TrainingData,
        batch_size: int,
        on_step: Callable[[torch.Tensor, float], None] | None = None,
        precision: str = "fp32",
    ) -> EpochResult:
        """:func:`train_one_epoch` over ``data``'s training batches, in this set-up's batch
        order, with its model, optimizer, schedule, step rule and objective."""
        return train_one_epoch(
            self.model, self.optimizer, self.scheduler,
            data.train_batches(batch_size, self.generator), on_step, self.rule, precision,
            self.objective,
        )  # fmt: skip

    def evaluate(
        self, data: TrainingData, batch_size: int, part: Part = "val", precision: str = "fp32"
    ) -> dict[str, float]:
        """:func:`evaluate` of this set-up's model on ``data``'s ``part``, by its objective."""
        return evaluate(self.model, data.eval_batches(part, batch_size), self.objective, precision)


def set_up_training(
    hp: Mapping[str, Any],
    builder: Callable[..., nn.Module],
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    seed: int,
    device: torch.device,
    total_steps: int,
    lr: float | None = None,
    schedule: Callable[[int], float] | None = None,
    task: Task = "classification",
    loss: LossFunction | None = None,
) -> TrainingSetup:
    """Seeds everything, then builds the model, optimizer, lr schedule and batch order of a run.

    The order is fixed, so one configuration and seed give the same initial weights and the same
    batches wherever it is set up: :func:`seed_everything`, the model from
    ``builder(hp, input_shape, num_outputs)`` on ``device``, the optimizer ``hp["optimizer"]``
    at ``hp["lr"]`` with ``hp["weight_decay"]`` (default 0), the config's lr schedule
    (:func:`raytune_hp.lr_schedules.build_scheduler`) over ``total_steps``, a batch-order
    generator seeded with ``seed``, the step rule of ``hp``, and the objective: ``task`` and
    ``loss``.

    Args:
        hp: the run's flat hyperparameters.
        builder: ``(hp, input_shape, num_outputs) -> nn.Module``.
        input_shape: the shape of one input, without the batch dimension.
        num_outputs: the model's outputs: classes for classification, targets for regression.
        seed: seeds Python, NumPy and torch before the model is built, and the batch order.
        device: where the model trains.
        total_steps: optimizer steps in the whole run, for the schedule.
        lr: the optimizer's base lr in place of ``hp["lr"]``.
        schedule: the multiplier of the base lr at each 1-based optimizer step, in place of the
            config's schedule (as :func:`raytune_hp.lr_schedules.multiplier` gives it).
        task: ``classification`` or ``regression``: the loss and the metrics (:class:`Objective`).
        loss: a user's ``loss(outputs, targets)`` in place of the task's.

    Returns:
        The model, optimizer, scheduler, generator, step rule and objective.

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
    model = builder(hp, input_shape, num_outputs).to(device)
    optimizer = OPTIMIZERS[str(hp[OPTIMIZER])].build(
        model.parameters(), hp[LR] if lr is None else lr, hp.get("weight_decay", 0.0)
    )
    if schedule is None:
        scheduler = build_scheduler(optimizer, hp, total_steps)
    else:
        # LambdaLR's index is the number of steps taken: the next step is index + 1.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: schedule(i + 1))
    generator = torch.Generator().manual_seed(seed)
    return TrainingSetup(
        model, optimizer, scheduler, generator, StepRule.from_hp(hp), Objective(task, loss)
    )
