"""The batch-size study: time per epoch against epochs to a target metric, across powers of two,
for the config's recommended configuration.

Each batch size trains from a trial's own set-up (:func:`raytune_hp.training.set_up_training`:
the same seed, lr and schedule; only the batch size changes), and the study writes a table, a
one-line reading of the trade-off and a plot.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from raytune_hp.config import load_config
    >>> from raytune_hp.data import load_data
    >>> out = Path(tempfile.mkdtemp()) / "batch-study"
    >>> study = batch_study(load_config("configs/quickstart.yaml"), load_data("digits", 0.2, 0),
    ...                     out, batch_sizes=[64, 256], max_epochs=1, progress=False, threads=1)
    >>> [row.batch_size for row in study.rows], study.table.name
    ([64, 256], 'batch_study.md')
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_hp import metrics
from raytune_hp.diagnostics.recommended import (
    Builder,
    builder_for_checks,
    objective_for_checks,
    recommended_configuration,
    torch_threads,
)
from raytune_hp.errors import RaytuneHPError
from raytune_hp.metrics import TASK_METRICS, VAL_ACC, VAL_LOSS, Task
from raytune_hp.spaces import LR, OPTIMIZER, TABLES
from raytune_hp.storage import write_atomically
from raytune_hp.values import is_int, is_pow2, powers_of_two

if TYPE_CHECKING:
    import torch

    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import Dataset, LoaderData, TrainingData
    from raytune_hp.training import LossFunction, Objective

DEFAULT_TARGETS: dict[str, float] = {VAL_ACC: 0.95, VAL_LOSS: 0.2}
"""Targets that mean the same on any data: an accuracy, and a classification's cross-entropy
(``val_loss`` of a regression or of a user's loss depends on the targets' scale)."""
STUDY_BATCH_RANGE = (16, 512)  # keeps the default study to a few minutes on 2 CPU cores
SPEEDUP_WORTH_NAMING = 1.25  # smaller ratios of epoch times are within a shared CPU's noise
BATCH_STUDY_PLOT = "batch_study.png"
BATCH_STUDY_TABLE = "batch_study.md"


def _threads(count: int) -> str:
    return f"{count} torch thread{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class BatchStudyRow:
    """One batch size's run.

    ``seconds_per_epoch`` is the mean time of the training passes (``train_one_epoch``);
    ``seconds_to_target`` the wall-clock time from the start until the evaluation that first met
    the target, evaluations included; ``epochs_to_target`` and ``seconds_to_target`` are
    ``None`` when the target was not met within the epochs run. ``final_metric`` is the metric
    after the last epoch run.
    """

    batch_size: int
    seconds_per_epoch: float
    epochs_run: int
    epochs_to_target: int | None
    seconds_to_target: float | None
    final_metric: float


@dataclass(frozen=True)
class BatchStudyResult:
    """The outcome of :func:`batch_study`: one row per batch size and where they were written."""

    rows: tuple[BatchStudyRow, ...]
    metric: str
    target: float
    max_epochs: int
    lr: float
    optimizer: str
    device: str
    threads: int
    reading: str
    plot: Path
    table: Path

    def markdown(self) -> str:
        """The table of numbers and the one-line reading, as written to ``batch_study.md``."""
        op = metrics.comparison(metrics.MODES[self.metric])
        lines = [
            "| batch size | s / epoch (mean) | epochs to target | s to target | "
            f"final {self.metric} | epochs run |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            epochs = str(row.epochs_to_target) if row.epochs_to_target is not None else "–"
            seconds = f"{row.seconds_to_target:.2f}" if row.seconds_to_target is not None else "–"
            lines.append(
                f"| {row.batch_size} | {row.seconds_per_epoch:.3f} | {epochs} | {seconds} | "
                f"{row.final_metric:.4f} | {row.epochs_run} |"
            )
        return (
            f"Target: {self.metric} {op} {self.target:g} within {self.max_epochs} epochs; "
            f"{self.optimizer} at lr {self.lr:g}; {self.device}, {_threads(self.threads)}.\n\n"
            + "\n".join(lines)
            + f"\n\n{self.reading}\n"
        )


def _default_batch_sizes(config: ExperimentConfig, train_size: int) -> list[int]:
    """The powers of two the space allows for ``batch_size``, within 16..512 and the data."""
    space = config.search_space()
    if "batch_size" in space and not space["batch_size"].fixed:
        low, high = space["batch_size"].bounds
    else:  # fixed or absent: the table's range, since a study of one size says nothing
        row = next(r for r in TABLES["optimization"].rows if r.name == "batch_size")
        low, high = float(row.low or 1), float(row.high or 1024)
    high = min(high, float(train_size))
    capped = powers_of_two(max(low, STUDY_BATCH_RANGE[0]), min(high, STUDY_BATCH_RANGE[1]))
    return capped if len(capped) >= 2 else powers_of_two(low, high)


def _default_target(metric: str, task: Task, loss: LossFunction | None) -> float | None:
    """The target the study aims at when none is given, where one means the same on any data."""
    if metric == VAL_LOSS and (task != "classification" or loss is not None):
        return None
    return DEFAULT_TARGETS.get(metric)


def _reading(rows: Sequence[BatchStudyRow], metric: str) -> str:
    """One line on the trade-off, from the numbers (it says so when they disagree with it)."""
    small, large = rows[0], rows[-1]
    speedup = small.seconds_per_epoch / large.seconds_per_epoch
    if speedup >= SPEEDUP_WORTH_NAMING:
        epochs_part = (
            f"bigger batches → faster epochs ({large.seconds_per_epoch:.2f} s at "
            f"{large.batch_size} vs {small.seconds_per_epoch:.2f} s at {small.batch_size}, "
            f"{speedup:.1f}× faster)"
        )
    elif speedup > 1 / SPEEDUP_WORTH_NAMING:
        epochs_part = (
            f"epochs take about as long at {large.batch_size} as at {small.batch_size} "
            f"({large.seconds_per_epoch:.2f} s vs {small.seconds_per_epoch:.2f} s: per-sample "
            "compute, not per-step overhead, dominates on this device)"
        )
    else:
        epochs_part = (
            f"bigger batches did not give faster epochs here ({large.seconds_per_epoch:.2f} s at "
            f"{large.batch_size} vs {small.seconds_per_epoch:.2f} s at {small.batch_size})"
        )

    def epochs(row: BatchStudyRow) -> str:
        if row.epochs_to_target is None:
            return f"not within {row.epochs_run} at {row.batch_size}"
        return f"{row.epochs_to_target} at {row.batch_size}"

    small_e = small.epochs_to_target or math.inf
    large_e = large.epochs_to_target or math.inf
    if large_e > small_e:
        target_part = f"more epochs needed ({epochs(large)} vs {epochs(small)})"
    elif large_e == small_e:
        target_part = f"no more epochs needed ({epochs(large)} vs {epochs(small)})"
    else:
        target_part = f"fewer epochs needed, not more ({epochs(large)} vs {epochs(small)})"
    reached = [r for r in rows if r.seconds_to_target is not None]
    if reached:
        best = min(reached, key=lambda r: r.seconds_to_target or math.inf)
        verdict = f"fastest to the target: batch {best.batch_size} ({best.seconds_to_target:.2f} s)"
    else:
        verdict = f"no batch size reached the {metric} target: lower it or allow more epochs"
    return f"Reading: {epochs_part}, {target_part}; {verdict}."


def batch_study(
    config: ExperimentConfig,
    data: Dataset | LoaderData,
    out_dir: Path,
    *,
    batch_sizes: Sequence[int] | None = None,
    target: float | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    builder: Builder | None = None,
    threads: int | None = None,
    task: Task | None = None,
    loss: LossFunction | None = None,
) -> BatchStudyResult:
    """Time to a target metric across batch sizes, for the recommended configuration.

    Each batch size trains the recommended configuration (its lr, schedule and seed; only the
    batch size changes) epoch by epoch until ``config.train.metric`` reaches ``target`` or
    ``max_epochs`` have run. Writes ``out_dir/batch_study.png`` (seconds per epoch and epochs
    to target against batch size) and ``out_dir/batch_study.md`` (the table and its reading).

    Args:
        config: the experiment; its space gives the recommended configuration.
        data: the experiment's data set.
        out_dir: folder for the plot and the table, created if missing.
        batch_sizes: powers of two to compare; by default those the space allows within
            16..512 (and no bigger than the training set).
        target: the metric to reach; by default 0.95 for ``val_acc`` and 0.2 for the
            cross-entropy ``val_loss`` of a classification; other metrics need one.
        max_epochs: the most epochs per batch size; by default ``config.train.max_epochs``.
        progress: show a progress bar on stderr.
        builder: the model builder, as for :func:`lr_find`.
        threads: torch CPU threads; all available cores by default.
        task: ``classification`` or ``regression``; by default the config's, else
            classification (:func:`~raytune_hp.diagnostics.recommended.objective_for_checks`).
        loss: a user's ``loss(outputs, targets)`` in place of the task's; by default the
            config's, else none.

    Returns:
        One row per batch size, in increasing order, and where the plot and table went.

    Raises:
        RaytuneHPError: a batch size that is not a power of two, ``max_epochs`` < 1, a metric
            the task does not report, or no ``target`` for a metric without a default one.

    Example:
        >>> study = batch_study(config, data, Path("bs"), batch_sizes=(32, 256))  # doctest: +SKIP
        >>> [row.epochs_to_target for row in study.rows]  # doctest: +SKIP
        [3, 11]
    """
    from tqdm import tqdm

    from raytune_hp.devices import place_data, select_device
    from raytune_hp.training import Objective, set_up_training

    task, loss = objective_for_checks(config, task, loss)
    metric = config.train.metric
    if metric not in TASK_METRICS[task]:
        raise RaytuneHPError(
            f"batch-study: train.metric must be one the {task} task reports "
            f"({', '.join(TASK_METRICS[task])}); got {metric}"
        )
    default = _default_target(metric, task, loss)
    if target is not None:
        goal = float(target)
    elif default is not None:
        goal = default
    else:
        raise RaytuneHPError(
            f"batch-study: --target must be given for train.metric {metric} of a {task} task"
            + (" with your own loss" if loss is not None else "")
            + " (its scale depends on the data); got none"
        )
    sizes = sorted(set(batch_sizes)) if batch_sizes is not None else None
    if sizes is None:
        sizes = _default_batch_sizes(config, data.train_size)
    if not sizes or not all(is_pow2(size) for size in sizes):
        raise RaytuneHPError(
            f"batch-study: batch_sizes must be powers of two ≥ 1; got {list(batch_sizes or [])}"
        )
    epochs_budget = config.train.max_epochs if max_epochs is None else max_epochs
    if not is_int(epochs_budget) or epochs_budget < 1:
        raise RaytuneHPError(f"batch-study: max_epochs must be an integer ≥ 1; got {max_epochs!r}")
    hp = recommended_configuration(config)
    build = builder_for_checks(config, builder)
    device = select_device()
    data = place_data(data, device)
    rows = []

    with torch_threads(threads) as thread_count:
        _warm_up(build, hp, data, sizes, device, Objective(task, loss))
        bar = tqdm(
            total=len(sizes) * epochs_budget,
            desc="batch study",
            unit="epoch",
            file=sys.stderr,
            disable=not progress,
        )
        try:
            for size in sizes:
                setup = set_up_training(
                    {**hp, "batch_size": size},
                    build,
                    data.input_shape,
                    data.num_outputs,
                    seed=config.seed,
                    device=device,
                    total_steps=epochs_budget * data.steps_per_epoch(size),
                    task=task,
                    loss=loss,
                )
                bar.set_description(f"batch study, batch {size}")
                train_seconds: list[float] = []
                reached_at: int | None = None
                seconds_to_target: float | None = None
                value = math.nan
                started = time.perf_counter()
                for epoch in range(1, epochs_budget + 1):
                    tic = time.perf_counter()
                    train_loss, _ = setup.train_epoch(data, size)
                    train_seconds.append(time.perf_counter() - tic)
                    validation = setup.evaluate(data, size)
                    value = validation[metric]
                    bar.update()
                    bar.set_postfix({metric: f"{value:.4f}"}, refresh=False)
                    if metrics.reached(value, goal, config.train.mode):
                        reached_at = epoch
                        seconds_to_target = time.perf_counter() - started
                        break
                    if not all(math.isfinite(v) for v in (train_loss, *validation.values())):
                        break  # diverged: it will not reach the target
                bar.update(epochs_budget - len(train_seconds))
                rows.append(
                    BatchStudyRow(
                        batch_size=size,
                        seconds_per_epoch=sum(train_seconds) / len(train_seconds),
                        epochs_run=len(train_seconds),
                        epochs_to_target=reached_at,
                        seconds_to_target=seconds_to_target,
                        final_metric=float(value),
                    )
                )
        finally:
            bar.close()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = BatchStudyResult(
        rows=tuple(rows),
        metric=metric,
        target=goal,
        max_epochs=epochs_budget,
        lr=float(hp[LR]),
        optimizer=str(hp[OPTIMIZER]),
        device=str(device),
        threads=thread_count,
        reading=_reading(rows, metric),
        plot=out_dir / BATCH_STUDY_PLOT,
        table=out_dir / BATCH_STUDY_TABLE,
    )
    title = f"Batch-size study of {config.name} ({config.model.name})"
    write_atomically(result.table, f"# {title}\n\n{result.markdown()}".encode())
    _plot_batch_study(result, title)
    return result


def _warm_up(
    build: Builder,
    hp: Mapping[str, Any],
    data: TrainingData,
    sizes: Sequence[int],
    device: torch.device,
    objective: Objective,
) -> None:
    """One untimed forward and backward pass at each batch size, on a throwaway model: an op's
    first call pays for allocations and kernel selection, which would count against the first
    batch size timed."""
    from raytune_hp.training import StepRule, to_device

    model = build(hp, data.input_shape, data.num_outputs).to(device)
    batch = next(iter(data.eval_batches("train", max(sizes))))
    x, y = to_device(batch, device, objective.task)
    for size in sizes:
        objective.training_loss(model(x[:size]), y[:size], StepRule()).backward()


def _plot_batch_study(result: BatchStudyResult, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

    sizes = [row.batch_size for row in result.rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    left.plot(sizes, [row.seconds_per_epoch for row in result.rows], "o-", color="tab:blue")
    left.set_ylabel("seconds per epoch (mean of training passes)")
    left.set_title("time per epoch")
    left.set_ylim(0, max(row.seconds_per_epoch for row in result.rows) * 1.15)

    reached = [row for row in result.rows if row.epochs_to_target is not None]
    missed = [row for row in result.rows if row.epochs_to_target is None]
    right.plot(
        [row.batch_size for row in reached],
        [row.epochs_to_target for row in reached],
        "o-",
        color="tab:orange",
        label="reached the target",
    )
    if missed:
        right.plot(
            [row.batch_size for row in missed],
            [row.epochs_run for row in missed],
            "x",
            color="tab:red",
            markersize=9,
            markeredgewidth=2,
            label=f"not reached in {result.max_epochs} epochs",
        )
        right.axhline(result.max_epochs, color="tab:red", linestyle=":", linewidth=1)
    op = metrics.comparison(metrics.MODES[result.metric])
    for row in reached:
        right.annotate(
            f"{row.seconds_to_target:.2f} s",
            xy=(row.batch_size, row.epochs_to_target or 0),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="tab:orange",
        )
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_ylabel("epochs (labels: wall-clock seconds to the target)")
    right.set_title(f"epochs to {result.metric} {op} {result.target:g}")
    right.set_ylim(0, result.max_epochs * 1.15 + 1)
    right.legend(loc="upper left", fontsize=9)

    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(size) for size in sizes])
        ax.set_xlabel("batch size (log₂ scale)")
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"{title}: {result.optimizer} at lr {result.lr:g} on {result.device}, "
        f"{_threads(result.threads)}"
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=result.plot.suffix.lstrip(".") or "png", dpi=120)
    write_atomically(result.plot, buffer.getvalue())
    plt.close(fig)
