"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates", §3.3; fastai's
``lr_find``) on the config's recommended configuration, followed by the smoke test
(:mod:`raytune_hp.diagnostics.lr_smoke_test`).

The range test trains with an lr growing exponentially step by step (a trial's own set-up,
:func:`raytune_hp.training.set_up_training`, its schedule replaced by the sweep) and suggests the
lr where the smoothed loss falls fastest.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from raytune_hp.config import load_config
    >>> from raytune_hp.data import load_data
    >>> found = lr_find(load_config("configs/quickstart.yaml"), load_data("digits", 0.2, 0),
    ...                 Path(tempfile.mkdtemp()), steps=60, smoke_lrs=(), progress=False)
    >>> found.optimizer, found.lrs[0], found.search_range
    ('adam', 1e-07, (0.0001, 0.1))
"""

from __future__ import annotations

import io
import itertools
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_hp.diagnostics.lr_smoke_test import SMOKE_TEST_LRS, SmokeTest, smoke_test
from raytune_hp.diagnostics.recommended import (
    Builder,
    StopTraining,
    builder_for_checks,
    format_lr,
    objective_for_checks,
    recommended_configuration,
    torch_threads,
    train_until_stopped,
)
from raytune_hp.errors import RaytuneHPError
from raytune_hp.metrics import Task
from raytune_hp.spaces import OPTIMIZER
from raytune_hp.storage import write_atomically
from raytune_hp.values import is_int

if TYPE_CHECKING:
    import torch

    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import Dataset, LoaderData
    from raytune_hp.training import LossFunction

SMOOTHING = 0.98  # fastai's and Smith's beta for the loss's exponential moving average
DIVERGENCE_FACTOR = 4.0  # stop once the smoothed loss exceeds this multiple of its minimum
LR_FIND_PLOT = "lr_find.png"


@dataclass(frozen=True)
class LrFindResult:
    """The outcome of :func:`lr_find`.

    ``lrs[i]`` is the learning rate step ``i`` trained with, ``losses[i]`` that step's training
    loss and ``smoothed[i]`` its bias-corrected moving average. ``diverged`` says the run stopped
    before its last step because the smoothed loss exceeded 4× its minimum (or stopped being a
    number). ``search_range`` is the config's lr range for ``optimizer``; ``loss`` names the
    training loss (``cross-entropy``, ``mean squared error`` or the user's).
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
    loss: str = "cross-entropy"

    @property
    def in_range(self) -> bool:
        """Whether the suggestion lies inside the config's lr range for its optimizer."""
        low, high = self.search_range
        return low <= self.suggestion <= high

    def summary(self) -> str:
        """The result as a few lines of text, for the command line."""
        low, high = self.search_range
        stop = (
            f"stopped at lr {format_lr(self.lrs[-1])}: the smoothed loss exceeded "
            f"{DIVERGENCE_FACTOR:g}× its minimum"
            if self.diverged
            else f"ran to lr {format_lr(self.lrs[-1])}"
        )
        where = "inside" if self.in_range else "OUTSIDE"
        lines = [
            f"LR range test on {self.device}: {len(self.lrs)} steps from lr "
            f"{format_lr(self.lrs[0])}, {stop}",
            f"suggested lr: {self.suggestion:.2e}",
            f"  why: {self.reason}",
            f"  {where} the {self.optimizer} range of the space [{low:g}, {high:g}]",
        ]
        if self.smoke_tests:
            lines.append("smoke test, from the same initialisation:")
            lines += [f"  {test.describe()}" for test in self.smoke_tests]
        lines.append(f"plot: {self.plot}")
        return "\n".join(lines)


def _exponential_lr(step: int, steps: int, start_lr: float, end_lr: float) -> float:
    """The range test's schedule: ``start_lr · (end_lr / start_lr)^((step - 1) / (steps - 1))``
    for the 1-based ``step``, so the first step trains at ``start_lr`` and step ``steps`` at
    ``end_lr``."""
    return float(start_lr * (end_lr / start_lr) ** ((step - 1) / (steps - 1)))


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
            f"too few finite losses for a slope; min/10 rule: {format_lr(min_lr)} / 10 "
            "(lower start_lr or raise steps)"
        )
    slopes = [
        ((b[1] - a[1]) / math.log(b[0] / a[0]), a[0]) for a, b in itertools.pairwise(candidates)
    ]
    slope, steep_lr = min(slopes)
    if slope >= 0:
        return min_lr / 10, (
            "the smoothed loss never fell, so there is no steepest descent; min/10 rule: "
            f"{format_lr(min_lr)} / 10 (check the model and data before tuning the lr)"
        )
    return steep_lr, (
        "steepest descent of the smoothed loss (fastai's 'steep' rule): it falls fastest at lr "
        f"{format_lr(steep_lr)}, by {-slope:.2f} per e-fold of lr; for comparison its minimum, "
        f"{min_loss:.3g}, is at lr {format_lr(min_lr)}, so fastai's min/10 rule would give "
        f"{format_lr(min_lr / 10)}"
    )


def _check_lr_range(steps: int, start_lr: float, end_lr: float) -> None:
    if not is_int(steps) or steps < 2:
        raise RaytuneHPError(f"lr-find: steps must be an integer ≥ 2; got {steps!r}")
    if not 0 < start_lr < end_lr:
        raise RaytuneHPError(
            f"lr-find: the lrs must satisfy 0 < start_lr < end_lr; got start_lr {start_lr!r}, "
            f"end_lr {end_lr!r}"
        )


def lr_find(
    config: ExperimentConfig,
    data: Dataset | LoaderData,
    out_dir: Path,
    *,
    steps: int = 300,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    progress: bool = True,
    builder: Builder | None = None,
    smoke_lrs: Sequence[float] = SMOKE_TEST_LRS,
    threads: int | None = None,
    task: Task | None = None,
    loss: LossFunction | None = None,
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
        builder: ``(hp, input_shape, num_outputs) -> nn.Module``; by default the config's
            ``model.builder`` or built-in model.
        smoke_lrs: learning rates of the smoke test; empty to skip it.
        threads: torch CPU threads; all available cores by default.
        task: ``classification`` or ``regression``; by default the config's, else
            classification (:func:`~raytune_hp.diagnostics.recommended.objective_for_checks`).
        loss: a user's ``loss(outputs, targets)`` in place of the task's; by default the
            config's, else none.

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

    from raytune_hp.devices import place_data, select_device
    from raytune_hp.training import set_up_training

    _check_lr_range(steps, start_lr, end_lr)
    task, loss = objective_for_checks(config, task, loss)
    hp = recommended_configuration(config)
    build = builder_for_checks(config, builder)
    optimizer_name = str(hp[OPTIMIZER])
    search_range = config.search_space().lr_range(optimizer_name)
    device = select_device()
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    diverged = False

    with torch_threads(threads):
        setup = set_up_training(
            hp,
            build,
            data.input_shape,
            data.num_outputs,
            seed=config.seed,
            device=device,
            total_steps=steps,
            lr=start_lr,
            schedule=lambda step: (
                _exponential_lr(min(step, steps), steps, start_lr, end_lr) / start_lr
            ),
            task=task,
            loss=loss,
        )
        data = place_data(data, device)
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
                raise StopTraining
            if len(losses) >= steps:
                raise StopTraining

        try:
            train_until_stopped(setup, data, int(hp["batch_size"]), on_step)
        finally:
            bar.close()

        suggestion, reason = _suggest(lrs, smoothed, steps)
        smoke = smoke_test(
            config, data, lrs=smoke_lrs, builder=build, threads=threads, task=task, loss=loss
        )

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
        loss=setup.objective.describe(),
    )
    _plot_lr_find(result, config, hp)
    return result


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
    ax.set_ylabel(f"training loss ({result.loss})")
    ax.set_title(
        f"LR range test: {config.name} ({config.model.name}, {result.optimizer}, "
        f"batch {hp['batch_size']}, {len(lrs)} steps"
        + (", stopped: diverged)" if result.diverged else ")")
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=result.plot.suffix.lstrip(".") or "png", dpi=120)
    write_atomically(result.plot, buffer.getvalue())
    plt.close(fig)
