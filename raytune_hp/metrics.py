"""What a trial reports, and which way each metric is better: one place for the trainable, the
searchers, early stopping, TensorBoard and the reports.

A trial also reports the learning rate it trained with last, under the hyperparameter's own name
(:data:`raytune_hp.spaces.LR`).

Example:
    >>> MODES[VAL_ACC], best_of([0.91, 0.97, 0.95], "max"), to_loss(0.97, "max")
    ('max', 0.97, -0.97)
    >>> reached(0.18, 0.2, MODES[VAL_LOSS]), comparison("min")
    (True, '≤')
    >>> TASK_METRICS["regression"], worst(VAL_ACC), worst(VAL_RMSE)
    (('val_rmse', 'val_mae', 'val_loss'), 0.0, 1000000000.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
# A regression task's validation error: root mean squared and mean absolute (val_loss is the MSE).
VAL_RMSE = "val_rmse"
VAL_MAE = "val_mae"
NUM_PARAMS = "num_params"
DIVERGED = "diverged"
SKIPPED = "skipped"
# Set (to the memory cap and torch's message) only on the record of a trial out of GPU memory.
OUT_OF_MEMORY = "out_of_memory"
TRAIN_SAMPLES = "train_samples"
# Where a trial ran (strings, in results only).
NODE_ID = "node_id"
GPU_IDS = "gpu_ids"
DEVICE = "device"
GPU_SHARE = "gpu_share"
# The dtype the training forward pass computed in (a string: "torch.float32", "torch.bfloat16").
COMPUTE_DTYPE = "compute_dtype"
# Set only on the first result after a restore that could not use the newest checkpoint: which
# one it used instead (or that it started afresh), and why (a string).
CHECKPOINT_FALLBACK = "checkpoint_fallback"

HPARAMS_METRICS = (VAL_ACC, VAL_LOSS, TRAIN_LOSS)

Mode = Literal["min", "max"]
MODES: dict[str, Mode] = {VAL_ACC: "max", VAL_LOSS: "min", VAL_RMSE: "min", VAL_MAE: "min"}
"""The metrics the built-in training loop reports, and which way each is better (a metric of
the user's own says its direction in the config: ``train.mode``)."""

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = get_args(Task)
TASK_METRICS: dict[Task, tuple[str, ...]] = {
    "classification": (VAL_ACC, VAL_LOSS),
    "regression": (VAL_RMSE, VAL_MAE, VAL_LOSS),
}
"""The validation metrics the built-in loop reports for each task; the first is the task's
default metric. ``val_loss`` is the loss the run trains with (cross-entropy, mean squared error,
or the user's own loss). A training function of the user's own reports whatever it likes."""

WORST_LOSS = 1e9
"""The worst value of a metric where lower is better: finite, since HyperOpt orders losses."""


def worst(metric: str) -> float:
    """The worst value of one of the built-in loop's metrics, reported by a trial that diverged,
    ran out of memory or was skipped so that the searcher moves away: 0 for an accuracy, 1e9 for
    a loss or an error."""
    return 0.0 if MODES[metric] == "max" else WORST_LOSS


def to_loss(value: float, mode: Mode) -> float:
    """``value`` as something to minimise: negated where higher is better. It is what TPE
    minimises, and the sort key that puts the best trial first."""
    return -value if mode == "max" else value


def best_of(values: Iterable[float], mode: Mode) -> float:
    """The best of ``values`` (at least one) for a metric whose better direction is ``mode``."""
    return max(values) if mode == "max" else min(values)


def reached(value: float, target: float, mode: Mode) -> bool:
    """Whether ``value`` meets ``target``: at least it where higher is better, at most where
    lower is."""
    return value >= target if mode == "max" else value <= target


def comparison(mode: Mode) -> str:
    """How a target is written for ``mode``: ``≥`` or ``≤``."""
    return "≥" if mode == "max" else "≤"
