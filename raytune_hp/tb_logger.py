"""TensorBoard events written by raytune-hp itself (Ray's automatic TensorBoard logger is off).

The experiment folder gets one HParams *experiment* summary that declares every hyperparameter of
the space (conditional ones included) and every metric, so the HParams dashboard has a column for
each. Every trial declares its own hyperparameters when it *starts*, so running and pruned trials
get a row too (tensorboardX #670, ray-project/ray #9268).

Example:
    >>> writer = TrialWriter("/tmp/trial", {"lr": 0.001, "optimizer": "adam"})  # doctest: +SKIP
    >>> writer.train_step(step=1, loss=2.3, lr=0.001)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from raytune_hp.spaces import LR, OPTIMIZER, SearchSpace, start_point

TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACC = "val_acc"
EPOCH = "epoch"
EPOCH_METRICS = (VAL_LOSS, VAL_ACC)
HPARAMS_METRICS = (VAL_ACC, VAL_LOSS, TRAIN_LOSS)


def write_experiment_summary(log_dir: str | Path, space: SearchSpace) -> None:
    """Declares the space's hyperparameters (with their discrete domains) and the metrics."""
    discrete: dict[str, list[Any]] = {}
    for dim in space.dims:
        if dim.name == LR:
            continue
        if dim.name == OPTIMIZER:
            discrete[OPTIMIZER] = [name for name, _, _ in space[LR].lr_ranges]
        elif dim.fixed or dim.kind == "choice":
            discrete[dim.name] = list(dim.choices_or_range())
    # Types come from the values; discrete domains must hold only strings, numbers or booleans.
    exp, _, _ = hparams(
        start_point(space),
        dict.fromkeys(HPARAMS_METRICS, 0.0),
        hparam_domain_discrete=discrete,
    )
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        writer.file_writer.add_summary(exp)


class TrialWriter:
    """One trial's events: per-step training loss and lr, per-epoch metrics, HParams session."""

    def __init__(self, log_dir: str | Path, hparam_values: Mapping[str, Any]) -> None:
        self._writer = SummaryWriter(log_dir=str(log_dir), flush_secs=5)
        _, session_start, self._session_end = hparams(dict(hparam_values), {})
        self._writer.file_writer.add_summary(session_start)
        self._writer.flush()

    def train_step(self, step: int, loss: float, lr: float) -> None:
        self._writer.add_scalar(TRAIN_LOSS, loss, step)
        self._writer.add_scalar(LR, lr, step)

    def epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Writes the epoch's metrics and flushes, so a trial stopped right after keeps them."""
        for name in EPOCH_METRICS:
            if name in metrics:
                self._writer.add_scalar(name, metrics[name], epoch)
        self._writer.flush()

    def finished(self) -> None:
        """Marks the HParams session as ended successfully (the whole epoch budget trained)."""
        self._writer.file_writer.add_summary(self._session_end)

    def close(self) -> None:
        self._writer.close()
