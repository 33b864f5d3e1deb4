"""TensorBoard events written by raytune-hp itself (Ray's automatic TensorBoard logger is off).

Every trial is one run, named as its folder (``007_adam_lr3.2e-03``). When it starts, it writes
the HParams *experiment* (every hyperparameter of the space, conditional ones included, and every
metric), so the dashboard has a column for each and the experiment folder needs no run of its
own, and it declares its own hyperparameters, so running and stopped trials get a row too
(tensorboardX #670, ray-project/ray #9268). Every epoch it writes its metrics, and
``best/<metric>``: the best epoch's metric so far, the trial's score, which is what HParams shows
(it shows the last value of a tag), so sorting there crowns the trial the summary crowns. How a
trial ended is written by the driver (:func:`write_trial_end`), which knows when ASHA stops one.

TensorBoard's HParams table prints every number with five significant digits (``32.000``), so
integer hyperparameters are declared as text, padded with spaces to one width: they show as
``32``, sort in numeric order, and take their own axis in the parallel-coordinates view. It shows
five hyperparameters by default (the ones declared as differing between trials): those are the
five a practitioner looks at first (the learning rate, the optimizer, the batch size, then what
the tables say to tune finely).

Example:
    >>> from raytune_hp.spaces import resolve_space
    >>> layout = hparams_layout(resolve_space("cnn"), "val_acc", "max")
    >>> layout.values({"batch_size": 32, "lr": 0.001, "kernel_size": 3})
    {'batch_size': '  32', 'lr': 0.001, 'kernel_size': '3'}
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    NUM_PARAMS,
    SKIPPED,
    TRAIN_LOSS,
    TRAIN_SAMPLES,
    Mode,
    to_loss,
)
from raytune_hp.spaces import LR, OPTIMIZER, Dimension, SearchSpace, powers_of_two
from raytune_hp.values import is_finite

BEST = "best/{}"
"""The tag of a trial's score: its best epoch's metric so far."""
EPOCHS = "epochs"
"""The tag of the epochs a trial has trained."""
STOPPED_EARLY = "stopped_early"
"""The tag the driver writes when a trial ends: 1 when ASHA stopped it early, else 0."""
STATUS = "status"
"""The text tag the driver writes when a trial ends: how it ended, in words."""
SHOWN = 5
"""How many hyperparameters TensorBoard's HParams table shows before any is ticked by hand."""
END_SUFFIX = ".end"
"""The ending of the event file the driver writes into a trial's folder when the trial ends."""

# What a trial reports that is no curve worth drawing, and what the built-in loop draws per step.
_BOOKKEEPING = frozenset({EPOCH, NUM_PARAMS, TRAIN_SAMPLES, DIVERGED, SKIPPED, GPU_SHARE, DEVICE})
_PER_STEP = frozenset({TRAIN_LOSS, LR})
# Up to this many distinct values, a text hyperparameter's domain lists them (a filter of
# checkboxes); above it, TensorBoard filters by pattern.
_LISTED = 32


@dataclass(frozen=True)
class HParamsLayout:
    """How an experiment's hyperparameters and metrics appear in TensorBoard's HParams
    dashboard: the experiment's declaration (``experiment``, a serialized summary), the integer
    hyperparameters shown as text of a width each, and the score's metric and mode."""

    experiment: bytes
    metric: str
    mode: Mode
    widths: Mapping[str, int] = field(default_factory=dict)

    def values(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's hyperparameters as HParams shows them (integers as padded text)."""
        return {
            name: _as_text(value, self.widths[name]) if name in self.widths else value
            for name, value in hparams.items()
        }


def hparams_layout(
    space: SearchSpace, metric: str, mode: Mode, metrics: Sequence[str] = ()
) -> HParamsLayout:
    """The HParams declaration of an experiment over ``space`` whose trials report ``metric``
    (its score: ``best/<metric>``) and ``metrics`` besides."""
    widths = {dim.name: _width(dim) for dim in space.dims if _integral(dim)}
    shown = _shown(space)
    infos = [_hparam(dim, space, widths) for dim in space.dims]
    # TensorBoard shows the first five metrics by default: the score, the last epoch's metric,
    # and how the trial ended before the other curves' last values.
    tags = [BEST.format(metric), metric, EPOCHS, STOPPED_EARLY, *metrics]
    names = {BEST.format(metric): f"{metric} (best epoch)", metric: f"{metric} (last epoch)"}
    names |= {EPOCHS: "epochs trained", STOPPED_EARLY: "stopped early by ASHA"}
    summary = hp.hparams_config_pb(
        infos, [hp.Metric(tag, display_name=names.get(tag)) for tag in dict.fromkeys(tags)]
    )
    # TensorBoard shows first the hyperparameters declared as differing between trials.
    value = summary.value[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in shown
    value.metadata.plugin_data.content = data.SerializeToString()
    return HParamsLayout(summary.SerializeToString(), metric, mode, widths)


def _shown(space: SearchSpace) -> set[str]:
    """The tuned hyperparameters HParams shows by default: the learning rate, the optimizer and
    the batch size, then what the tables say to tune finely, then the rest in table order."""
    tuned = [dim for dim in space.dims if not dim.fixed]
    first = [LR, OPTIMIZER, "batch_size"]
    ranked = sorted(
        tuned,
        key=lambda dim: (
            first.index(dim.name) if dim.name in first else len(first),
            "finely" not in dim.row.how,
        ),
    )
    return {dim.name for dim in ranked[:SHOWN]}


def _integral(dim: Dimension) -> bool:
    """Whether the dimension's values are integers (not booleans)."""
    if dim.kind in ("int", "pow2"):
        return True
    values = dim.choices_or_range()
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _width(dim: Dimension) -> int:
    return max(len(str(int(value))) for value in _integer_values(dim))


def _integer_values(dim: Dimension) -> list[int]:
    if dim.kind == "pow2" and not dim.fixed:
        return powers_of_two(*dim.bounds)
    if dim.kind == "int" and not dim.fixed:
        low, high = (int(bound) for bound in dim.bounds)
        return list(range(low, high + 1))
    return [int(value) for value in dim.choices_or_range()]


def _as_text(value: Any, width: int) -> Any:
    """An integer as text right-aligned to ``width`` (spaces sort before digits, so text order
    is numeric order); anything else unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).rjust(width)
    return value


def _hparam(dim: Dimension, space: SearchSpace, widths: Mapping[str, int]) -> hp.HParam:
    description = f"{dim.row.how}; {dim.row.note}".strip("; ")
    domain: hp.Domain | None
    if dim.name in widths:
        values = _integer_values(dim)
        listed = [_as_text(value, widths[dim.name]) for value in values]
        domain = hp.Discrete(listed) if len(listed) <= _LISTED else None
    elif dim.fixed:
        domain = hp.Discrete([dim.value])
    elif dim.name == LR:
        low = min(low for _, low, _ in dim.lr_ranges)
        high = max(high for _, _, high in dim.lr_ranges)
        domain = hp.RealInterval(float(low), float(high))
    elif dim.name == OPTIMIZER:
        domain = hp.Discrete([name for name, _, _ in space[LR].lr_ranges])
    elif dim.kind == "choice":
        domain = hp.Discrete(list(dim.choices))
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
    """One trial's events: the experiment's HParams declaration and the trial's own session when
    it starts, per-step training loss and lr, per-epoch metrics with the score so far.

    ``best`` is the score so far of a trial that resumes (its epochs before are written already).
    """

    def __init__(
        self,
        log_dir: str | Path,
        hparam_values: Mapping[str, Any],
        layout: HParamsLayout | None = None,
        best: float | None = None,
    ) -> None:
        # A trial retried after it failed starts a new session: the end the driver wrote for the
        # failure must not stand for the new run (TensorBoard keeps a tag's first value).
        for old_end in Path(log_dir).glob(f"events.out.tfevents.*{END_SUFFIX}"):
            old_end.unlink(missing_ok=True)
        self._writer = SummaryWriter(log_dir=str(log_dir), flush_secs=5)
        files = self._writer._get_file_writer()
        values = dict(hparam_values)
        if layout is not None:
            files.add_summary(summary_pb2.Summary.FromString(layout.experiment))
            values = layout.values(values)
        files.add_summary(hp.hparams_pb(values, trial_id=Path(log_dir).name))
        self._writer.flush()
        self._layout, self._best = layout, best
        self._per_step = False

    @property
    def best(self) -> float | None:
        """The trial's score so far: its best epoch's metric."""
        return self._best

    def train_step(self, step: int, loss: float, lr: float) -> None:
        """Writes one optimizer step's training loss and lr (the epoch's curves then leave them
        out)."""
        self._per_step = True
        self._writer.add_scalar(TRAIN_LOSS, loss, step)
        self._writer.add_scalar(LR, lr, step)

    def epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Writes every metric of the epoch as a curve (what the trial logs per step, and its
        bookkeeping, aside), the score so far and the epochs trained, and flushes, so a trial
        stopped right after keeps them."""
        skip = _BOOKKEEPING | (_PER_STEP if self._per_step else frozenset())
        for name, value in metrics.items():
            if name not in skip and is_finite(value):
                self._writer.add_scalar(name, value, epoch)
        layout = self._layout
        if layout is not None and is_finite(metrics.get(layout.metric)):
            value = float(metrics[layout.metric])
            if self._best is None or to_loss(value, layout.mode) < to_loss(self._best, layout.mode):
                self._best = value
        if self._best is not None and layout is not None:
            self._writer.add_scalar(BEST.format(layout.metric), self._best, epoch)
        self._writer.add_scalar(EPOCHS, epoch, epoch)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def write_trial_end(
    log_dir: str | Path, words: str, epochs: int, *, stopped_early: bool, succeeded: bool
) -> Path:
    """Writes how a trial ended into an event file of its own in ``log_dir`` (a local folder)
    and returns it: the HParams session's end (success, or failure), whether ASHA stopped it
    early, and ``words`` as the run's ``status`` text.

    Example:
        >>> import tempfile
        >>> path = write_trial_end(tempfile.mkdtemp(), "stopped early by ASHA at epoch 6", 6,
        ...                        stopped_early=True, succeeded=True)
        >>> path.name.endswith(".end")
        True
    """
    writer = SummaryWriter(log_dir=str(log_dir), filename_suffix=END_SUFFIX)
    writer.add_scalar(STOPPED_EARLY, 1.0 if stopped_early else 0.0, epochs)
    writer.add_text(STATUS, words, epochs)
    code = api_pb2.STATUS_SUCCESS if succeeded else api_pb2.STATUS_FAILURE
    writer._get_file_writer().add_summary(_session_end(code))
    path = Path(writer._get_file_writer().get_logdir())
    writer.close()
    (written,) = sorted(path.glob(f"events.out.tfevents.*{END_SUFFIX}"))[-1:]
    return written


def trial_end_file(
    words: str, epochs: int, *, stopped_early: bool, succeeded: bool
) -> tuple[str, bytes]:
    """:func:`write_trial_end` into a scratch folder: the file's name and bytes, for a trial
    folder on any storage."""
    with tempfile.TemporaryDirectory() as folder:
        path = write_trial_end(
            folder, words, epochs, stopped_early=stopped_early, succeeded=succeeded
        )
        return path.name, path.read_bytes()
