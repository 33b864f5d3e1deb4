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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from torch.utils.tensorboard import SummaryWriter

from raytune_hp.metrics import (
    DEVICE,
    DIVERGED,
    EPOCH,
    GPU_SHARE,
    HPARAMS_METRICS,
    NUM_PARAMS,
    SKIPPED,
    TRAIN_LOSS,
    TRAIN_SAMPLES,
)
from raytune_hp.spaces import LR, OPTIMIZER, Dimension, SearchSpace, powers_of_two
from raytune_hp.values import is_finite

# What a trial reports that is no curve worth drawing, and what the built-in loop draws per step.
_BOOKKEEPING = frozenset({EPOCH, NUM_PARAMS, TRAIN_SAMPLES, DIVERGED, SKIPPED, GPU_SHARE, DEVICE})
_PER_STEP = frozenset({TRAIN_LOSS, LR})


def write_experiment_summary(
    log_dir: str | Path, space: SearchSpace, metrics: Sequence[str] = HPARAMS_METRICS
) -> None:
    """Declares every hyperparameter of the space with its domain, and the metrics the trials
    report (the searched one first)."""
    config = hp.hparams_config_pb(
        [_hparam(dim, space) for dim in space.dims],
        [hp.Metric(tag) for tag in metrics],
    )
    with SummaryWriter(log_dir=str(log_dir)) as writer:
        writer._get_file_writer().add_summary(config)


def _hparam(dim: Dimension, space: SearchSpace) -> hp.HParam:
    description = f"{dim.row.how}; {dim.row.note}".strip("; ")
    domain: hp.Domain
    if dim.fixed:
        domain = hp.Discrete([dim.value])
    elif dim.name == LR:
        low = min(low for _, low, _ in dim.lr_ranges)
        high = max(high for _, _, high in dim.lr_ranges)
        domain = hp.RealInterval(float(low), float(high))
    elif dim.name == OPTIMIZER:
        domain = hp.Discrete([name for name, _, _ in space[LR].lr_ranges])
    elif dim.kind == "choice":
        domain = hp.Discrete(list(dim.choices))
    elif dim.kind == "pow2":
        domain = hp.Discrete(powers_of_two(*dim.bounds))
    elif dim.kind == "int":
        domain = hp.IntInterval(*(int(bound) for bound in dim.bounds))
    else:
        domain = hp.RealInterval(*(float(bound) for bound in dim.bounds))
    return hp.HParam(dim.name, domain, description=description)


def _session_end(status: int) -> summary_pb2.Summary:
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status)
    )
    summary = summary_pb2.Summary()
    summary.value.add(
        tag=metadata.SESSION_END_INFO_TAG,
        metadata=metadata.create_summary_metadata(data),
        tensor=metadata.NULL_TENSOR,
    )
    return summary


class TrialWriter:
    """One trial's events: per-step training loss and lr, per-epoch metrics, HParams session."""

    def __init__(self, log_dir: str | Path, hparam_values: Mapping[str, Any]) -> None:
        self._writer = SummaryWriter(log_dir=str(log_dir), flush_secs=5)
        start = hp.hparams_pb(dict(hparam_values), trial_id=Path(log_dir).name)
        self._writer._get_file_writer().add_summary(start)
        self._writer.flush()
        self._per_step = False

    def train_step(self, step: int, loss: float, lr: float) -> None:
        """Writes one optimizer step's training loss and lr (the epoch's curves then leave them
        out)."""
        self._per_step = True
        self._writer.add_scalar(TRAIN_LOSS, loss, step)
        self._writer.add_scalar(LR, lr, step)

    def epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Writes every metric of the epoch as a curve (what the trial logs per step, and its
        bookkeeping, aside) and flushes, so a trial stopped right after keeps them."""
        skip = _BOOKKEEPING | (_PER_STEP if self._per_step else frozenset())
        for name, value in metrics.items():
            if name not in skip and is_finite(value):
                self._writer.add_scalar(name, value, epoch)
        self._writer.flush()

    def finished(self) -> None:
        """Marks the HParams session as ended successfully (the whole epoch budget trained)."""
        self._writer._get_file_writer().add_summary(_session_end(api_pb2.STATUS_SUCCESS))

    def close(self) -> None:
        self._writer.close()
