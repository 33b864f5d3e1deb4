"""The checks a practitioner runs by hand before a search: the learning-rate range test with its
smoke test, and the batch-size study.

Both train the config's recommended configuration (:func:`raytune_hp.spaces.start_point`) with
a trial's own set-up and loop (:func:`raytune_hp.training.set_up_training`, ``train_one_epoch``,
``evaluate``), so what they measure is what a trial would do.

Example:
    >>> from pathlib import Path
    >>> from raytune_hp.config import load_config
    >>> from raytune_hp.data import load_data
    >>> config = load_config("configs/quickstart.yaml")
    >>> data = load_data("digits", 0.2, seed=0)
    >>> found = lr_find(config, data, Path("/tmp/lr"), progress=False)  # doctest: +SKIP
    >>> found.in_range  # doctest: +SKIP
    True
    >>> study = batch_study(config, data, Path("/tmp/bs"), progress=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_hp.errors import ConfigError, RaytuneHPError
from raytune_hp.metrics import VAL_ACC, VAL_LOSS
from raytune_hp.spaces import LR, OPTIMIZER, TABLES, powers_of_two, start_point

if TYPE_CHECKING:
    import torch
    from torch import nn

    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import Dataset
    from raytune_hp.training import TrainingSetup

__all__ = [
    "BatchStudyResult",
    "BatchStudyRow",
    "LrFindResult",
    "SmokeTest",
    "batch_study",
    "lr_find",
    "smoke_test",
]

Builder = Callable[..., "nn.Module"]


# ---------------------------------------------------------------------------------------------
# Shared: the recommended configuration, its model, the torch threads
# ---------------------------------------------------------------------------------------------


def _recommended(config: ExperimentConfig) -> dict[str, Any]:
    """The config's starting point: every table's *start from*, the lr at its range's low end."""
    return start_point(config.search_space())


def _model_builder(config: ExperimentConfig, builder: Builder | None) -> Builder:
    """``builder`` if given, else the config's ``model.builder``, else the built-in model."""
    if builder is not None:
        return builder
    if config.model.builder is None and config.train.function is not None:
        raise ConfigError(
            "model.builder must be given for lr-find and batch-study when train.function trains "
            "the model (they build the model themselves, and cannot see inside your function); "
            f"got train.function {config.train.function!r} and no model.builder"
        )
    from raytune_hp.plugins import UserCode

    return UserCode.of(config).model_builder(config)


def _available_cores() -> int:
    """CPU cores this process may run on (the container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[int]:
    """Runs the block with ``threads`` torch threads (all available cores when ``None``) and
    restores the previous count: diagnostics run alone, unlike trials, which share the cores."""
    import torch

    previous = torch.get_num_threads()
    count = _available_cores() if threads is None else threads
    if count < 1:
        raise RaytuneHPError(f"threads must be an integer ≥ 1; got {threads!r}")
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)


def _threads(count: int) -> str:
    return f"{count} torch thread{'s' if count != 1 else ''}"


def _fmt_lr(lr: float) -> str:
    return f"{lr:.2g}"


# ---------------------------------------------------------------------------------------------
# LR range test (Smith 2017, "Cyclical Learning Rates", §3.3; fastai's lr_find) and smoke test
# ---------------------------------------------------------------------------------------------

SMOOTHING = 0.98  # fastai's and Smith's beta for the loss's exponential moving average
DIVERGENCE_FACTOR = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum
SMOKE_TEST_LRS = (1e-4, 1e-3)  # the table's "start with a smoke test at 1e-4, then 1e-3"
SMOKE_TEST_STEPS = 50
LEARNS_MARGIN = 0.10  # "learns": the loss fell by at least 10 % of its starting value
LR_FIND_PLOT = "lr_find.png"


@dataclass(frozen=True)
class SmokeTest:
    """A short run at one constant learning rate, from the recommended initialisation.

    ``loss_before`` and ``loss_after`` are the mean cross-entropy on the training set (dropout
    off) before the first and after the last of ``steps`` optimizer steps.
    """

    lr: float
    steps: int
    loss_before: float
    loss_after: float
    learns: bool

    @property
    def change(self) -> float:
        """Relative change of the loss: -0.4 means it fell by 40 %."""
        return (self.loss_after - self.loss_before) / self.loss_before

    def describe(self) -> str:
        """One line, e.g. ``lr 0.001: loss 2.31 → 0.85 (-63 %), learns``."""
        verdict = "learns" if self.learns else f"not clearly learning (fell < {LEARNS_MARGIN:.0%})"
        if not math.isfinite(self.loss_after):
            verdict = "diverges"
        return (
            f"lr {_fmt_lr(self.lr)}: loss {self.loss_before:.3g} → {self.loss_after:.3g} "
            f"({self.change:+.0%}) after {self.steps} steps, {verdict}"
        )


@dataclass(frozen=True)
class LrFindResult:
    """The outcome of :func:`lr_find`.

    ``lrs[i]`` is the learning rate step ``i`` trained with, ``losses[i]`` that step's training
    loss and ``smoothed[i]`` its bias-corrected moving average. ``diverged`` says the run stopped
    before its last step because the smoothed loss exceeded 4× its minimum (or stopped being a
    number). ``search_range`` is the config's lr range for ``optimizer``.
    """

    lrs: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    diverged: bool
    suggestion: float
    reason: str
    optimizer: str
    search_range: tuple[float, float]
    smoke_tests: tuple[SmokeTest, ...]
    plot: Path
    device: str

    @property
    def in_range(self) -> bool:
        """Whether the suggestion lies inside the config's lr range for its optimizer."""
        low, high = self.search_range
        return low <= self.suggestion <= high

    def summary(self) -> str:
        """The result as a few lines of text, for the command line."""
        low, high = self.search_range
        stop = (
            f"stopped at lr {_fmt_lr(self.lrs[-1])}: the smoothed loss exceeded "
            f"{DIVERGENCE_FACTOR:g}× its minimum"
            if self.diverged
            else f"ran to lr {_fmt_lr(self.lrs[-1])}"
        )
        where = "inside" if self.in_range else "OUTSIDE"
        lines = [
            f"LR range test on {self.device}: {len(self.lrs)} steps from lr "
            f"{_fmt_lr(self.lrs[0])}, {stop}",
            f"suggested lr: {self.suggestion:.2e}",
            f"  why: {self.reason}",
            f"  {where} the {self.optimizer} range of the space [{low:g}, {high:g}]",
        ]
        if self.smoke_tests:
            lines.append("smoke test, from the same initialisation:")
            lines += [f"  {test.describe()}" for test in self.smoke_tests]
        lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def _constant(step: int) -> float:
    """The smoke test's schedule: its lr at every step."""
    return 1.0


class _Stop(Exception):
    """Ends ``train_one_epoch`` from its ``on_step`` callback, mid-epoch."""


def _train_until_stopped(
    setup: TrainingSetup,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    on_step: Callable[[torch.Tensor, float], None],
) -> None:
    """Trains epoch after epoch (a trial's own loop) until ``on_step`` raises ``_Stop``."""
    with contextlib.suppress(_Stop):
        while True:
            setup.train_epoch(x, y, batch_size, on_step)


def _exponential_lr(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    """The range test's schedule: ``start_lr · (end_lr / start_lr)^((step - 1) / (steps - 1))``
    for the 1-based ``step``, so the first step trains at ``start_lr`` and step ``steps`` at
    ``end_lr``."""
    return float(start_lr * (end_lr / start_lr) ** ((step - 1) / (steps - 1)))


def _smooth(losses: Sequence[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (as Adam corrects its moments)."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**i))
    return out


def _suggest(lrs: Sequence[float], smoothed: Sequence[float], steps: int) -> tuple[float, str]:
    """fastai's ``steep`` rule: the lr where the smoothed loss falls fastest against log(lr).

    As fastai's ``lr_find`` does, the first tenth of the planned steps (the EMA still settling)
    and the last five recorded steps (the blow-up) are left out before looking.
    """
    points = [(lr, loss) for lr, loss in zip(lrs, smoothed, strict=True)]
    trimmed = points[steps // 10 : len(points) - 5]
    candidates = [(lr, loss) for lr, loss in trimmed if math.isfinite(loss)]
    if len(candidates) < 3:  # a run that stopped very early: look at all of it
        candidates = [(lr, loss) for lr, loss in points if math.isfinite(loss)]
    min_lr, min_loss = min(candidates, key=lambda p: p[1])
    if len(candidates) < 2:
        return min_lr / 10, (
            f"too few finite losses for a slope; min/10 rule: {_fmt_lr(min_lr)} / 10 "
            "(lower start_lr or raise steps)"
        )
    slopes = [
        ((b[1] - a[1]) / math.log(b[0] / a[0]), a[0]) for a, b in itertools.pairwise(candidates)
    ]
    slope, steep_lr = min(slopes)
    if slope >= 0:
        return min_lr / 10, (
            "the smoothed loss never fell, so there is no steepest descent; min/10 rule: "
            f"{_fmt_lr(min_lr)} / 10 (check the model and data before tuning the lr)"
        )
    return steep_lr, (
        "steepest descent of the smoothed loss (fastai's 'steep' rule): it falls fastest at lr "
        f"{_fmt_lr(steep_lr)}, by {-slope:.2f} per e-fold of lr; for comparison its minimum, "
        f"{min_loss:.3g}, is at lr {_fmt_lr(min_lr)}, so fastai's min/10 rule would give "
        f"{_fmt_lr(min_lr / 10)}"
    )


def _check_lr_range(steps: int, start_lr: float, end_lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise RaytuneHPError(f"lr-find: steps must be an integer ≥ 2; got {steps!r}")
    if not 0 < start_lr < end_lr:
        raise RaytuneHPError(
            f"lr-find: the lrs must satisfy 0 < start_lr < end_lr; got start_lr {start_lr!r}, "
            f"end_lr {end_lr!r}"
        )


def lr_find(
    config: ExperimentConfig,
    data: Dataset,
    out_dir: Path,
    *,
    steps: int = 300,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    progress: bool = True,
    builder: Builder | None = None,
    smoke_lrs: Sequence[float] = SMOKE_TEST_LRS,
    threads: int | None = None,
) -> LrFindResult:
    """The learning-rate range test on the config's recommended configuration.

    The model and optimizer are the recommended configuration's (its lr aside), seeded with
    ``config.seed``. The learning rate grows exponentially from ``start_lr`` to ``end_lr`` over
    ``steps`` optimizer steps, one shuffled training batch each (cycling through the epochs);
    every step's training loss is recorded and smoothed (bias-corrected moving average, beta
    0.98). The run stops early once the smoothed loss exceeds 4× its minimum (or is no number).
    The suggestion is fastai's ``steep`` rule: the lr where the smoothed loss falls fastest
    against log(lr), leaving out the first tenth of the steps and the last five, as fastai does;
    ``reason`` says so with the numbers, and ``in_range`` whether it lies in the config's lr
    range for its optimizer. The smoke test (:func:`smoke_test`) at ``smoke_lrs`` runs as well.
    The config's lr schedule is not used: the range test has its own.

    Writes ``out_dir/lr_find.png``: the smoothed and raw loss against the lr on a log axis, the
    suggestion, and the space's lr range shaded.

    Args:
        config: the experiment; its space gives the recommended configuration.
        data: the experiment's data set.
        out_dir: folder for the plot, created if missing.
        steps: optimizer steps of the whole sweep (fewer if it diverges).
        start_lr: learning rate of the first step.
        end_lr: learning rate of the last step.
        progress: show a progress bar on stderr.
        builder: ``(hp, input_shape, num_classes) -> nn.Module``; by default the config's
            ``model.builder`` or built-in model.
        smoke_lrs: learning rates of the smoke test; empty to skip it.
        threads: torch CPU threads; all available cores by default.

    Returns:
        The recorded curve, the suggestion and its reason, and the smoke tests.

    Raises:
        RaytuneHPError: ``steps`` < 2 or not ``0 < start_lr < end_lr``.
        ConfigError: the config trains through ``train.function`` without a ``model.builder``.

    Example:
        >>> found = lr_find(config, data, Path("runs/lr"), progress=False)  # doctest: +SKIP
        >>> print(found.summary())  # doctest: +SKIP
    """
    from tqdm import tqdm

    from raytune_hp.devices import select_device
    from raytune_hp.training import set_up_training

    _check_lr_range(steps, start_lr, end_lr)
    hp = _recommended(config)
    build = _model_builder(config, builder)
    optimizer_name = str(hp[OPTIMIZER])
    search_range = config.search_space().lr_range(optimizer_name)
    device = select_device()
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    diverged = False

    with _torch_threads(threads):
        setup = set_up_training(
            hp,
            build,
            data.input_shape,
            data.num_classes,
            seed=config.seed,
            device=device,
            total_steps=steps,
            lr=start_lr,
            schedule=lambda step: (
                _exponential_lr(min(step, steps), steps, start_lr, end_lr) / start_lr
            ),
        )
        x_train, y_train = data.x_train.to(device), data.y_train.to(device)
        beta, average, best = SMOOTHING, 0.0, math.inf
        bar = tqdm(
            total=steps, desc="lr range test", unit="step", file=sys.stderr, disable=not progress
        )

        def on_step(step_loss: torch.Tensor, lr: float) -> None:
            nonlocal average, best, diverged
            loss = float(step_loss)  # the range test decides after every step
            lrs.append(lr)
            losses.append(loss)
            average = beta * average + (1 - beta) * loss
            smooth = average / (1 - beta ** len(losses))
            smoothed.append(smooth)
            best = min(best, smooth)
            bar.update()
            bar.set_postfix(lr=f"{lr:.1e}", loss=f"{smooth:.3f}", refresh=False)
            if not math.isfinite(smooth) or smooth > DIVERGENCE_FACTOR * best:
                diverged = len(losses) < steps
                raise _Stop
            if len(losses) >= steps:
                raise _Stop

        try:
            _train_until_stopped(setup, x_train, y_train, int(hp["batch_size"]), on_step)
        finally:
            bar.close()

        suggestion, reason = _suggest(lrs, smoothed, steps)
        smoke = smoke_test(config, data, lrs=smoke_lrs, builder=build, threads=threads)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = LrFindResult(
        lrs=tuple(lrs),
        losses=tuple(losses),
        smoothed=tuple(smoothed),
        diverged=diverged,
        suggestion=suggestion,
        reason=reason,
        optimizer=optimizer_name,
        search_range=search_range,
        smoke_tests=smoke,
        plot=out_dir / LR_FIND_PLOT,
        device=str(device),
    )
    _plot_lr_find(result, config, hp)
    return result


def smoke_test(
    config: ExperimentConfig,
    data: Dataset,
    *,
    lrs: Sequence[float] = SMOKE_TEST_LRS,
    steps: int = SMOKE_TEST_STEPS,
    builder: Builder | None = None,
    threads: int | None = None,
) -> tuple[SmokeTest, ...]:
    """Trains the recommended configuration briefly at each constant lr in ``lrs``.

    Every run starts from the same initialisation (``config.seed``) and sees the same batches.
    It *learns* when the training-set loss fell by at least 10 % of its starting value.

    Args:
        config: the experiment; its space gives the recommended configuration.
        data: the experiment's data set.
        lrs: the learning rates to try (the table's smoke test: 1e-4, then 1e-3).
        steps: optimizer steps per learning rate.
        builder: the model builder, as for :func:`lr_find`.
        threads: torch CPU threads; all available cores by default.

    Returns:
        One :class:`SmokeTest` per learning rate, in the order given.

    Raises:
        RaytuneHPError: ``steps`` < 1 or an lr that is not > 0.

    Example:
        >>> [t.learns for t in smoke_test(config, data)]  # doctest: +SKIP
        [False, True]
    """
    from raytune_hp.devices import select_device
    from raytune_hp.training import evaluate, set_up_training

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise RaytuneHPError(f"smoke test: steps must be an integer ≥ 1; got {steps!r}")
    if any(not lr > 0 for lr in lrs):
        raise RaytuneHPError(f"smoke test: every lr must be > 0; got {list(lrs)}")
    hp = _recommended(config)
    build = _model_builder(config, builder)
    device = select_device()
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    results = []
    with _torch_threads(threads):
        for lr in lrs:
            # Constant lr: the smoke test asks about the lr itself, not the config's schedule
            # (a long warmup would make any lr look too small in a few steps).
            setup = set_up_training(
                hp,
                build,
                data.input_shape,
                data.num_classes,
                seed=config.seed,
                device=device,
                total_steps=steps,
                lr=lr,
                schedule=_constant,
            )
            before, _ = evaluate(setup.model, x_train, y_train)
            done = 0

            def on_step(loss: torch.Tensor, step_lr: float) -> None:
                nonlocal done
                done += 1
                if done >= steps or not math.isfinite(float(loss)):
                    raise _Stop

            _train_until_stopped(setup, x_train, y_train, int(hp["batch_size"]), on_step)
            after, _ = evaluate(setup.model, x_train, y_train)
            learns = math.isfinite(after) and after <= (1 - LEARNS_MARGIN) * before
            results.append(SmokeTest(float(lr), steps, before, after, learns))
    return tuple(results)


def _plot_lr_find(result: LrFindResult, config: ExperimentConfig, hp: Mapping[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lrs, raw, smooth = result.lrs, result.losses, result.smoothed
    finite = [v for v in (*raw, *smooth) if math.isfinite(v)]
    finite_smooth = [v for v in smooth if math.isfinite(v)]
    # Keep the valley readable: a diverged tail (losses in the thousands) would flatten it.
    top = max(smooth[0], min(max(finite_smooth), DIVERGENCE_FACTOR * min(finite_smooth)))
    low, high = result.search_range

    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    ax.plot(lrs, raw, color="tab:blue", alpha=0.3, linewidth=0.8, label="training loss (raw)")
    ax.plot(lrs, smooth, color="tab:blue", linewidth=2, label="smoothed (EMA, β = 0.98)")
    ax.axvspan(
        low,
        high,
        color="tab:green",
        alpha=0.15,
        label=f"{result.optimizer} range of the space [{low:g}, {high:g}]",
    )
    ax.axvline(
        result.suggestion,
        color="tab:red",
        linestyle="--",
        linewidth=1.5,
        label=f"suggested lr {result.suggestion:.1e}",
    )
    ax.annotate(
        f"suggested\n{result.suggestion:.1e}",
        xy=(result.suggestion, top * 1.02),
        xytext=(6, -4),
        textcoords="offset points",
        va="top",
        color="tab:red",
        fontsize=9,
    )
    best = min(
        range(len(smooth)), key=lambda i: smooth[i] if math.isfinite(smooth[i]) else math.inf
    )
    ax.plot(lrs[best], smooth[best], "o", color="black", markersize=5, label="smoothed minimum")
    ax.set_xscale("log")
    ax.set_xlim(lrs[0], lrs[-1])
    ax.set_ylim(max(0.0, min(finite) - 0.05 * top), top * 1.05)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title(
        f"LR range test: {config.name} ({config.model.name}, {result.optimizer}, "
        f"batch {hp['batch_size']}, {len(lrs)} steps"
        + (", stopped: diverged)" if result.diverged else ")")
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    fig.savefig(result.plot, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Batch-size study: time per epoch against epochs to a target, across powers of two
# ---------------------------------------------------------------------------------------------

DEFAULT_TARGETS: dict[str, float] = {VAL_ACC: 0.95, VAL_LOSS: 0.2}
STUDY_BATCH_RANGE = (16, 512)  # keeps the default study to a few minutes on 2 CPU cores
SPEEDUP_WORTH_NAMING = 1.25  # smaller ratios of epoch times are within a shared CPU's noise
BATCH_STUDY_PLOT = "batch_study.png"
BATCH_STUDY_TABLE = "batch_study.md"


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
        op = "≥" if self.metric == VAL_ACC else "≤"
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


def _reached(metric: str, value: float, target: float) -> bool:
    return value >= target if metric == VAL_ACC else value <= target


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
    data: Dataset,
    out_dir: Path,
    *,
    batch_sizes: Sequence[int] | None = None,
    target: float | None = None,
    max_epochs: int | None = None,
    progress: bool = True,
    builder: Builder | None = None,
    threads: int | None = None,
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
        target: the metric to reach; by default 0.95 for ``val_acc``, 0.2 for ``val_loss``.
        max_epochs: the most epochs per batch size; by default ``config.train.max_epochs``.
        progress: show a progress bar on stderr.
        builder: the model builder, as for :func:`lr_find`.
        threads: torch CPU threads; all available cores by default.

    Returns:
        One row per batch size, in increasing order, and where the plot and table went.

    Raises:
        RaytuneHPError: a batch size that is not a power of two, or ``max_epochs`` < 1.

    Example:
        >>> study = batch_study(config, data, Path("bs"), batch_sizes=(32, 256))  # doctest: +SKIP
        >>> [row.epochs_to_target for row in study.rows]  # doctest: +SKIP
        [3, 11]
    """
    from tqdm import tqdm

    from raytune_hp.devices import select_device
    from raytune_hp.training import evaluate, set_up_training

    metric = config.train.metric
    sizes = sorted(set(batch_sizes)) if batch_sizes is not None else None
    if sizes is None:
        sizes = _default_batch_sizes(config, len(data.x_train))
    if not sizes or any(
        isinstance(b, bool) or not isinstance(b, int) or b < 1 or b & (b - 1) for b in sizes
    ):
        raise RaytuneHPError(
            f"batch-study: batch_sizes must be powers of two ≥ 1; got {list(batch_sizes or [])}"
        )
    epochs_budget = config.train.max_epochs if max_epochs is None else max_epochs
    if isinstance(epochs_budget, bool) or not isinstance(epochs_budget, int) or epochs_budget < 1:
        raise RaytuneHPError(f"batch-study: max_epochs must be an integer ≥ 1; got {max_epochs!r}")
    goal = DEFAULT_TARGETS[metric] if target is None else float(target)
    hp = _recommended(config)
    build = _model_builder(config, builder)
    device = select_device()
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    x_val, y_val = data.x_val.to(device), data.y_val.to(device)
    rows = []

    with _torch_threads(threads) as thread_count:
        _warm_up(build, hp, x_train, y_train, data, sizes)
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
                    data.num_classes,
                    seed=config.seed,
                    device=device,
                    total_steps=epochs_budget * math.ceil(len(x_train) / size),
                )
                bar.set_description(f"batch study, batch {size}")
                train_seconds: list[float] = []
                reached_at: int | None = None
                seconds_to_target: float | None = None
                value = math.nan
                started = time.perf_counter()
                for epoch in range(1, epochs_budget + 1):
                    tic = time.perf_counter()
                    loss = setup.train_epoch(x_train, y_train, size)
                    train_seconds.append(time.perf_counter() - tic)
                    val_loss, val_acc = evaluate(setup.model, x_val, y_val)
                    value = val_acc if metric == VAL_ACC else val_loss
                    bar.update()
                    bar.set_postfix({metric: f"{value:.4f}"}, refresh=False)
                    if _reached(metric, value, goal):
                        reached_at = epoch
                        seconds_to_target = time.perf_counter() - started
                        break
                    if not (math.isfinite(loss) and math.isfinite(val_loss)):
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
    result.table.write_text(f"# {title}\n\n{result.markdown()}")
    _plot_batch_study(result, title)
    return result


def _warm_up(
    build: Builder,
    hp: Mapping[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    data: Dataset,
    sizes: Sequence[int],
) -> None:
    """One untimed forward and backward pass at each batch size, on a throwaway model: an op's
    first call pays for allocations and kernel selection, which would count against the first
    batch size timed."""
    import torch.nn.functional as F

    model = build(hp, data.input_shape, data.num_classes).to(x.device)
    for size in sizes:
        F.cross_entropy(model(x[:size]), y[:size]).backward()


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
    op = "≥" if result.metric == VAL_ACC else "≤"
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
    fig.savefig(result.plot, dpi=120)
    plt.close(fig)
