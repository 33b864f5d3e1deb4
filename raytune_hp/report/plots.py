"""The plots under an experiment's ``plots/``: the optimization history, learning curves, the
metric against each hyperparameter, parallel coordinates and the importance bars, each drawn
as a matplotlib ``Figure`` and written as PNG through the store.

Example:
    >>> from raytune_hp.report.importance import Importance
    >>> from raytune_hp.report.advice import Advice
    >>> keep, narrow = Advice("keep the range", "..."), Advice("narrow to 3e-3", "...", True)
    >>> importance = Importance({"lr": 0.7, "dropout": 0.3}, trials=9, epoch=18,
    ...                         advice={"lr": narrow, "dropout": keep})
    >>> plot_importance(importance).axes[0].get_title()
    'Which hyperparameters mattered: 9 trials compared at epoch 18'
"""

from __future__ import annotations

import io
import math
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import Mode, to_loss
from raytune_hp.report.dimensions import categories_of, is_log, on_search_scale, tuned_dims
from raytune_hp.report.history import Axis, best_so_far, position
from raytune_hp.report.importance import Importance
from raytune_hp.report.trials import COMPLETED, STOPPED_EARLY, TrialRecord, scored_trials
from raytune_hp.spaces import Dimension, SearchSpace
from raytune_hp.storage import ExperimentStore

LEARNING_CURVES_PNG = "learning_curves.png"
OPTIMIZATION_HISTORY_PNG = "optimization_history.png"
METRIC_VS_HPARAMS_PNG = "metric_vs_hparams.png"
PARALLEL_COORDINATES_PNG = "parallel_coordinates.png"
IMPORTANCE_PNG = "importance.png"
_DPI = 110
_BEST_COLOR = "tab:red"
_STATUS_COLORS = {COMPLETED: "tab:blue", STOPPED_EARLY: "tab:gray"}
_OTHER_COLOR = "tab:purple"  # diverged, error, or still running
_CHANGE_COLOR = "tab:red"
_KEEP_COLOR = "tab:gray"
_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}


def write_plots(
    store: ExperimentStore,
    trials: list[TrialRecord],
    config: ExperimentConfig,
    importance: Importance,
) -> list[str]:
    """Draws the plots into ``store`` (the experiment's ``plots/``) and returns the names of
    those written, in the order the summary shows them; a plot with nothing to show is left out.
    """
    metric, mode, space = config.train.metric, config.train.mode, config.search_space()
    figures = {
        OPTIMIZATION_HISTORY_PNG: plot_optimization_history(trials, metric, mode),
        LEARNING_CURVES_PNG: plot_learning_curves(trials, metric, mode),
        METRIC_VS_HPARAMS_PNG: plot_metric_vs_hparams(trials, space, metric, mode),
        PARALLEL_COORDINATES_PNG: plot_parallel_coordinates(trials, space, metric, mode),
        IMPORTANCE_PNG: plot_importance(importance),
    }
    written = []
    for name, figure in figures.items():
        if figure is not None:
            _save_png(store, name, figure)
            written.append(name)
    return written


def _save_png(store: ExperimentStore, name: str, figure: Any) -> None:
    """Writes ``figure`` as PNG through the store (local or ``s3://`` alike), whole or not at
    all."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    store.write_bytes(name, buffer.getvalue())


# Figures are built as matplotlib ``Figure`` objects, never through pyplot: saving one renders
# with Agg, so no display is needed, no global backend is switched in the caller's process (a
# notebook), and nothing stays registered to close.


def plot_learning_curves(trials: list[TrialRecord], metric: str, mode: Mode) -> Any:
    """``metric`` against epoch, one line per trial: trials stopped early end in a cross, and the
    best trial is drawn thick on top. ``None`` when no trial reported an epoch yet."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    drawn = [trial for trial in trials if trial.curve]
    if not drawn:
        return None
    best = _best(drawn, mode)
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.subplots()
    for trial in drawn:
        epochs, values = zip(*trial.curve, strict=True)
        if trial is best:
            ax.plot(epochs, values, color=_BEST_COLOR, lw=2.5, zorder=3)
            continue
        color = _STATUS_COLORS.get(trial.status, _OTHER_COLOR)
        ax.plot(epochs, values, color=color, lw=1, alpha=0.6)
        if trial.status != COMPLETED:
            ax.plot(epochs[-1], values[-1], marker="x", color=color, ms=6)
    ax.set(xlabel="epoch", ylabel=metric, title=f"Learning curves: {metric} of every trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    handles = _status_handles(drawn, best, metric)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return figure


def plot_optimization_history(trials: list[TrialRecord], metric: str, mode: Mode) -> Any:
    """Would more trials help? Two panels, against the trial's number and against wall time:
    each trial's score as a point (hollow: stopped early, at the epoch it reached), the best
    score so far as a step line, and a trial without a score (failed, skipped) as a mark at the
    bottom. ``None`` when no trial has a score yet."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if not scored_trials(trials):
        return None
    timed = any(trial.ended is not None for trial in trials)
    figure = Figure(figsize=(11 if timed else 6.5, 4.2), layout="constrained")
    axes = figure.subplots(1, 2 if timed else 1, sharey=True, squeeze=False)[0]
    at = position(trials, "time")
    span = max((x for trial in trials if (x := at(trial)) is not None), default=0.0)
    unit, scale = ("min", 60.0) if span >= 120 else ("s", 1.0)
    panels: list[tuple[Axis, str, float]] = [("number", "trial (in the order proposed)", 1.0)]
    if timed:
        panels.append(("time", f"wall time at the trial's end ({unit})", scale))
    for ax, (axis, label, per) in zip(axes, panels, strict=True):
        _history_panel(ax, trials, mode, axis, per)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel(f"{metric} (each trial's best epoch)")
    figure.suptitle(f"Optimization history: best {metric} so far")
    statuses = dict.fromkeys(t.status for t in scored_trials(trials))
    handles = [
        Line2D([], [], ls="", marker="o", label=status, **_history_style(status))
        for status in statuses
    ]
    handles.append(Line2D([], [], color=_BEST_COLOR, lw=2, label="best so far"))
    unscored = [t for t in trials if t.best is None]
    if unscored:
        handles.append(
            Line2D([], [], ls="", marker="v", color=_OTHER_COLOR, label="no score (at the bottom)")
        )
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return figure


def _history_panel(ax: Any, trials: list[TrialRecord], mode: Mode, axis: Axis, per: float) -> None:
    where = position(trials, axis)
    placed = [(x / per, trial) for trial in trials if (x := where(trial)) is not None]
    for status in dict.fromkeys(trial.status for _, trial in placed if trial.best is not None):
        points = [(x, t.best) for x, t in placed if t.status == status and t.best is not None]
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", ls="", ms=5, **_history_style(status))
    unscored = [x for x, trial in placed if trial.best is None]
    if unscored:
        # No score to place: a mark on the bottom edge, whatever the y range.
        bottom = [0.02] * len(unscored)
        transform = ax.get_xaxis_transform()
        ax.plot(unscored, bottom, marker="v", color=_OTHER_COLOR, ls="", transform=transform)
    line = best_so_far(trials, mode, axis)
    if line:
        steps = [x / per for x, _ in line]
        bests = [best for _, best in line]
        end = max(x for x, _ in placed)  # the line runs on to the last trial, scored or not
        ax.step([*steps, end], [*bests, bests[-1]], where="post", color=_BEST_COLOR, lw=2, zorder=3)


def _history_style(status: str) -> dict[str, Any]:
    """A completed trial's point filled, a stopped-early one hollow, any other in purple."""
    color = _STATUS_COLORS.get(status, _OTHER_COLOR)
    if status == STOPPED_EARLY:
        return {"mfc": "none", "mec": color, "alpha": 0.9}
    return {"color": color, "alpha": 0.8}


def plot_metric_vs_hparams(
    trials: list[TrialRecord], space: SearchSpace, metric: str, mode: Mode
) -> Any:
    """One scatter panel per tuned hyperparameter: each trial's best ``metric`` against its value
    (log axes for log-scale hyperparameters, jittered categories), the best trial as a star."""
    from matplotlib.figure import Figure

    scored = scored_trials(trials)
    dims = tuned_dims(scored, space)
    if not dims:
        return None
    best = _best(scored, mode)
    cols = min(len(dims), 4)
    rows = math.ceil(len(dims) / cols)
    figure = Figure(figsize=(3.3 * cols, 2.9 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, cols, sharey=True, squeeze=False)
    for ax, dim in zip(axes.flat, dims, strict=False):
        _scatter_panel(ax, dim, scored, best)
    for ax in axes.flat[len(dims) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel(f"best {metric}")
    figure.suptitle(f"Best {metric} of each trial against each hyperparameter")
    handles = _status_handles(scored, best, metric, star=True)
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return figure


def _scatter_panel(ax: Any, dim: Dimension, trials: list[TrialRecord], best: Any) -> None:
    present = [trial for trial in trials if dim.name in trial.hparams]
    xs = _place_on_x(ax, dim, present)
    ys = [trial.best for trial in present]
    colors = [_STATUS_COLORS.get(trial.status, _OTHER_COLOR) for trial in present]
    ax.scatter(xs, ys, c=colors, s=22, alpha=0.8, edgecolors="none")
    for x, trial in zip(xs, present, strict=True):
        if trial is best:
            ax.scatter(
                [x],
                [trial.best],
                marker="*",
                s=220,
                color=_BEST_COLOR,
                edgecolors="black",
                linewidths=0.6,
                zorder=3,
            )
    ax.set_title(f"{dim.name} (log scale)" if is_log(dim) else dim.name, fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def _place_on_x(ax: Any, dim: Dimension, trials: list[TrialRecord]) -> list[float]:
    """Sets up ``ax``'s x-axis for ``dim`` and returns each trial's x position on it."""
    import random

    from matplotlib.ticker import NullFormatter, ScalarFormatter

    values = [trial.hparams[dim.name] for trial in trials]
    if dim.kind == "choice":
        categories = categories_of(dim, trials)
        many = len(categories) > 4
        labels = [str(category) for category in categories]
        ax.set_xticks(
            range(len(categories)),
            labels,
            fontsize=8,
            rotation=45 if many else 0,
            ha="right" if many else "center",
        )
        ax.set_xlim(-0.5, len(categories) - 0.5)
        jitter = random.Random(0)  # the same picture every time the report is rewritten
        return [categories.index(value) + jitter.uniform(-0.2, 0.2) for value in values]
    if dim.kind == "pow2":
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    elif is_log(dim):
        ax.set_xscale("log")
    else:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))  # 1e-4, not 0.00010
    return [float(value) for value in values]


def plot_parallel_coordinates(
    trials: list[TrialRecord], space: SearchSpace, metric: str, mode: Mode
) -> Any:
    """Parallel coordinates: one vertical axis per tuned hyperparameter (scaled to [0, 1] over
    the values tried, log-scale ones in log, categories evenly spaced) and one for ``metric``;
    one polyline per trial, coloured by its best ``metric``. A gap: the hyperparameter did not
    apply to that trial."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    scored = scored_trials(trials)
    dims = tuned_dims(scored, space)
    if not dims:
        return None
    best = _best(scored, mode)
    values = [float(trial.best) for trial in scored]  # type: ignore[arg-type]
    axes = [_unit_axis(dim, scored) for dim in dims]
    axes.append(_unit_numeric(values, values, digits=4))
    names = [dim.name for dim in dims] + [metric]
    norm = Normalize(min(values), max(values))
    cmap = colormaps["viridis" if mode == "max" else "viridis_r"]
    figure = Figure(figsize=(max(6.5, 1.5 * len(names)), 4.5), layout="constrained")
    ax = figure.subplots()
    # Worst first, so that the good trials (and the best, thick) are drawn on top.
    for i in sorted(range(len(scored)), key=lambda i: values[i], reverse=mode == "min"):
        ys = [positions[i] for positions, _ in axes]
        thick = scored[i] is best
        ax.plot(
            range(len(names)),
            ys,
            color=cmap(norm(values[i])),
            lw=3 if thick else 1.2,
            alpha=1.0 if thick else 0.75,
            zorder=3 if thick else 2,
        )
    for j, (_, ticks) in enumerate(axes):
        ax.axvline(j, color="black", lw=0.8, zorder=1)
        for y, label in ticks:
            ax.text(
                j + 0.04, y, label, fontsize=7, va="center", ha="left", zorder=4, bbox=_LABEL_BOX
            )
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(names) - 0.5)
    ax.set_ylim(-0.06, 1.06)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"Parallel coordinates: one line per trial, coloured by its best {metric}")
    figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"best {metric}")
    return figure


def _unit_axis(
    dim: Dimension, trials: list[TrialRecord]
) -> tuple[list[float], list[tuple[float, str]]]:
    """Each trial's position in [0, 1] on ``dim``'s axis (NaN where it does not apply), and the
    axis's labels as ``(position, text)``."""
    if dim.kind != "choice":
        raw = [trial.hparams.get(dim.name) for trial in trials]
        scaled = [on_search_scale(dim, value) if value is not None else math.nan for value in raw]
        return _unit_numeric(scaled, [value for value in raw if value is not None], digits=3)
    categories = categories_of(dim, trials)
    step = 1 / (len(categories) - 1) if len(categories) > 1 else 0.0
    start = 0.0 if len(categories) > 1 else 0.5
    positions = [
        start + step * categories.index(trial.hparams[dim.name])
        if dim.name in trial.hparams
        else math.nan
        for trial in trials
    ]
    return positions, [(start + step * i, str(c)) for i, c in enumerate(categories)]


def _unit_numeric(
    scaled: list[float], shown: list[Any], digits: int
) -> tuple[list[float], list[tuple[float, str]]]:
    """``scaled`` mapped linearly onto [0, 1] (NaN stays NaN), labelled at both ends with the
    smallest and largest of ``shown`` (the values as the user knows them)."""
    present = [x for x in scaled if not math.isnan(x)]
    low, high = min(present), max(present)
    span = high - low
    positions = [(x - low) / span if span else 0.5 for x in scaled]
    ends = [f"{value:.{digits}g}" for value in (min(shown), max(shown))]
    return positions, ([(0.0, ends[0]), (1.0, ends[1])] if span else [(0.5, ends[0])])


def plot_importance(importance: Importance) -> Any:
    """A horizontal bar per hyperparameter, most important on top, labelled with what to do
    with it next time and coloured by whether that changes the space (drop values, narrow or
    widen a range) or keeps it; ``None`` when the importance was skipped."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not importance.scores:
        return None
    names = list(importance.scores)[::-1]
    shares = [importance.scores[name] for name in names]
    advice = [importance.advice[name] for name in names]
    figure = Figure(figsize=(9, 0.45 * len(names) + 1.5), layout="constrained")
    ax = figure.subplots()
    colors = [_CHANGE_COLOR if a.changes else _KEEP_COLOR for a in advice]
    bars = ax.barh(names, shares, color=colors)
    labels = [f"{share:.2f}  {a.action}" for share, a in zip(shares, advice, strict=True)]
    ax.bar_label(bars, labels, padding=3, fontsize=8)
    ax.axvline(importance.threshold, color="black", ls="--", lw=0.8)
    ax.set_xlim(0, max(shares) * 2.2)  # the right half holds the labels
    ax.set_xticks([tick for tick in ax.get_xticks() if 0 <= tick <= max(shares)])
    ax.set(
        xlabel="importance (share of the spread it explains)",
        title=f"Which hyperparameters mattered: {importance.trials} trials compared at epoch "
        f"{importance.epoch}",
    )
    handles = [
        Patch(color=_CHANGE_COLOR, label="change the space"),
        Patch(color=_KEEP_COLOR, label="keep it"),
        Line2D([], [], color="black", ls="--", lw=0.8, label=f"even share 1/{len(names)}"),
    ]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    return figure


def _status_handles(
    trials: list[TrialRecord], best: TrialRecord | None, metric: str, star: bool = False
) -> list[Any]:
    from matplotlib.lines import Line2D

    statuses = dict.fromkeys(trial.status for trial in trials if trial is not best)
    handles = [
        Line2D(
            [],
            [],
            color=_STATUS_COLORS.get(status, _OTHER_COLOR),
            label=status,
            marker="o" if star else ("x" if status != COMPLETED else ""),
            ls="" if star else "-",
        )
        for status in statuses
    ]
    if best is not None and best.best is not None:
        label = f"best: {best.name} ({metric} {best.best:.4g})"
        style = {"marker": "*", "ms": 12, "mec": "black", "ls": ""} if star else {"lw": 2.5}
        handles.append(Line2D([], [], color=_BEST_COLOR, label=label, **style))
    return handles


def _best(trials: list[TrialRecord], mode: Mode) -> TrialRecord | None:
    scored = scored_trials(trials)
    if not scored:
        return None
    return min(scored, key=lambda trial: to_loss(float(trial.best), mode))  # type: ignore[arg-type]
