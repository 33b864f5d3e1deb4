"""The training loop's pieces, shared by a trial and by the checks run before a search.

Seeding, the optimizers of the learning-rate table, the step's tricks (:class:`StepRule`), one
epoch of training and one evaluation: plain functions of torch objects, with no Ray in sight, so
what a check measures is what a trial does.

Example:
    >>> import torch
    >>> from raytune_hp.data import load_data
    >>> from raytune_hp.models import build_model
    >>> data = load_data("digits", 0.2, seed=0)
    >>> hp = {"hidden_size": 32, "num_layers": 1, "dropout": 0.0}
    >>> seed_everything(0)
    >>> model = build_model("mlp", hp, data.input_shape, data.num_classes)
    >>> optimizer = build_optimizer("adam", model.parameters(), lr=1e-2, weight_decay=0.0)
    >>> scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    >>> for _ in range(3):
    ...     train_loss = train_one_epoch(model, optimizer, scheduler, data.x_train,
    ...                                  data.y_train, 64, torch.Generator().manual_seed(0))
    >>> val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
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


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch so two runs of one configuration agree on the CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(
    name: str, params: Any, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """The optimizers of the learning-rate table, their own parameters at library defaults."""
    optim = torch.optim
    factories: dict[str, Callable[[], torch.optim.Optimizer]] = {
        "sgd": lambda: optim.SGD(params, lr=lr, weight_decay=weight_decay),
        "momentum": lambda: optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
        "adagrad": lambda: optim.Adagrad(params, lr=lr, weight_decay=weight_decay),
        "adadelta": lambda: optim.Adadelta(params, lr=lr, weight_decay=weight_decay),
        "rmsprop": lambda: optim.RMSprop(params, lr=lr, weight_decay=weight_decay),
        "adam": lambda: optim.Adam(params, lr=lr, weight_decay=weight_decay),
        "nadam": lambda: optim.NAdam(params, lr=lr, weight_decay=weight_decay),
        "adamw": lambda: optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    }
    return factories[name]()


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
