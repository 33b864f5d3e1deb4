"""What an experiment folder holds, read back from disk: ``summary.md``, ``best_config.yaml``
and the plots under ``plots/`` that ``summary.md`` shows.

Everything here works from the folder alone (Ray's experiment state plus each trial's results),
so ``raytune-hp report RUN_DIR`` can rewrite it for any finished or interrupted experiment. The
plots (learning curves, the metric against each hyperparameter, parallel coordinates) and the
importance estimate tell which hyperparameters to tune finely next time and which coarsely.

Example:
    >>> from raytune_hp.config import load_config
    >>> trials = write_reports("runs/quickstart", load_config("runs/quickstart/config.yaml"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import DIVERGED, EPOCH, NUM_PARAMS, OUT_OF_MEMORY, SKIPPED, TRAIN_SAMPLES
from raytune_hp.spaces import LR, Dimension, SearchSpace, flatten
from raytune_hp.storage import (
    BEST_CONFIG_FILE,
    PHASES,
    PLOTS_DIR,
    STATE_GLOB,
    SUMMARY_FILE,
    ExperimentStore,
    as_store,
)

LEARNING_CURVES_PNG = "learning_curves.png"
METRIC_VS_HPARAMS_PNG = "metric_vs_hparams.png"
PARALLEL_COORDINATES_PNG = "parallel_coordinates.png"
IMPORTANCE_PNG = "importance.png"
MIN_TRIALS_FOR_IMPORTANCE = 4
_FEW_TRIALS = 20  # below this, the importance table says it is a rough guide
_DPI = 110
# Shuffles per hyperparameter behind its importance.
_IMPORTANCE_REPEATS = 10
_BEST_COLOR = "tab:red"
_STATUS_COLORS = {"completed": "tab:blue", "pruned": "tab:gray"}
_OTHER_COLOR = "tab:purple"  # diverged, error, or still running
_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the summary shows it."""

    name: str
    status: str
    hparams: dict[str, Any]
    best: float | None
    epochs: int
    error: str = ""
    phase: str = ""
    curve: tuple[tuple[int, float], ...] = field(default=(), compare=False, repr=False)
    """``(epoch, metric)`` for every epoch the trial reported."""


def load_trials(where: ExperimentStore | str | Path, config: ExperimentConfig) -> list[TrialRecord]:
    """Every trial of the experiment in ``where`` (all phases), best first, hyperparameters in
    table order.

    Status is ``completed`` (whole budget), ``pruned`` (stopped early by ASHA), ``diverged``,
    ``out of memory`` (its share of the GPU was not enough; the error says how much it had),
    ``error``, or Ray's own state (``RUNNING``, ``PENDING``) for an interrupted experiment.
    """
    store = as_store(where)
    phases = [p for p in PHASES if store.child(p).glob(STATE_GLOB)]
    records = []
    for phase in phases or [""]:
        records += _phase_trials(store.child(phase) if phase else store, config, phase)
    sign = -1 if config.train.mode == "max" else 1
    records.sort(key=lambda r: (r.best is None, sign * r.best if r.best is not None else 0))
    return records


def _phase_trials(
    folder: ExperimentStore, config: ExperimentConfig, phase: str
) -> list[TrialRecord]:
    from ray.tune import ExperimentAnalysis

    metric, mode, max_epochs = config.train.metric, config.train.mode, config.train.max_epochs
    order = [dim.name for dim in config.search_space().dims]
    if not folder.glob(STATE_GLOB):
        return []
    analysis = ExperimentAnalysis(folder.path, storage_filesystem=folder.fs)
    records = []
    for trial in analysis.trials:
        history = _history(analysis, trial)
        skip = next((row for row in history if row.get(SKIPPED) is True), None)
        if skip is not None:
            # Its placeholder result is no metric: it never trained.
            history = []
        values = [row[metric] for row in history if _finite(row.get(metric))]
        best = (max(values) if mode == "max" else min(values)) if values else None
        epochs = max((int(row[EPOCH]) for row in history if EPOCH in row), default=0)
        diverged = any(bool(row.get(DIVERGED)) for row in history)
        out_of_memory = next(
            (str(row[OUT_OF_MEMORY]) for row in history if row.get(OUT_OF_MEMORY)), ""
        )
        curve = tuple(
            (int(row[EPOCH]), float(row[metric]))
            for row in history
            if _finite(row.get(EPOCH)) and _finite(row.get(metric))
        )
        if trial.status == "ERROR":
            status = "error"
        elif skip is not None:
            status = (
                f"skipped: {int(skip[NUM_PARAMS]):,} parameters > ½ × "
                f"{int(skip[TRAIN_SAMPLES]):,} training samples"
            )
        elif out_of_memory:
            status = "out of memory"
        elif diverged:
            status = "diverged"
        elif trial.status == "TERMINATED":
            status = "completed" if epochs >= max_epochs else "pruned"
        else:
            status = trial.status
        error = ""
        trial_folder = folder.child(str(trial.storage.trial_dir_name))  # type: ignore[union-attr]
        if trial_folder.exists("error.txt"):
            lines = trial_folder.read_text("error.txt").strip().splitlines()
            error = lines[-1] if lines else ""
            if trial.status == "TERMINATED":
                error = f"retried from its checkpoint after {error}"
        error = error or out_of_memory
        records.append(
            TrialRecord(
                trial.trial_id,
                status,
                _ordered(flatten(trial.config), order),
                best,
                epochs,
                error,
                phase,
                curve,
            )
        )
    return records


def _ordered(hparams: dict[str, Any], order: list[str]) -> dict[str, Any]:
    known = {key: hparams[key] for key in order if key in hparams}
    return known | {key: value for key, value in hparams.items() if key not in known}


def _history(analysis: Any, trial: Any) -> list[dict[str, Any]]:
    frame = analysis.trial_dataframes.get(trial.trial_id)
    if frame is None or frame.empty:
        return []
    return frame.to_dict("records")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def summary_markdown(trials: list[TrialRecord], metric: str, mode: str, title: str = "") -> str:
    """A Markdown table: one row per trial, best first, every hyperparameter as a column."""
    keys: list[str] = []
    for trial in trials:
        keys += [k for k in trial.hparams if k not in keys]
    direction = "higher" if mode == "max" else "lower"
    phased = any(trial.phase for trial in trials)
    columns = ["rank", "trial", *(["phase"] if phased else []), *keys, metric, "epochs", "status"]
    head = [
        f"# {title}" if title else "# Experiment summary",
        "",
        f"{len(trials)} trials, sorted by `{metric}` (best epoch of each trial; {direction} is "
        "better). An empty cell: the hyperparameter does not apply to that trial.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = []
    for rank, trial in enumerate(trials, start=1):
        best = f"{trial.best:.4f}" if trial.best is not None else "–"
        status = f"{trial.status}: {trial.error}" if trial.error else trial.status
        cells = [
            str(rank),
            trial.name,
            *([trial.phase] if phased else []),
            *(_cell(trial.hparams.get(k, "")) for k in keys),
            best,
            str(trial.epochs),
            status,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + rows) + "\n"


def best_config(config: ExperimentConfig, best: TrialRecord) -> dict[str, Any]:
    """The experiment config with every hyperparameter fixed to the best trial's values:
    runnable as-is (``raytune-hp tune best_config.yaml`` trains that one configuration)."""
    data = config.model_dump(mode="json")
    data["name"] = f"{config.name}-best"
    data["space"] = dict(best.hparams)
    data["search"] = {"strategy": "random", "num_samples": 1}
    data["early_stopping"] = {"name": "none"}
    return data


def write_reports(
    where: ExperimentStore | str | Path, config: ExperimentConfig
) -> list[TrialRecord]:
    """(Re)writes ``summary.md``, ``best_config.yaml`` and ``plots/`` from what the folder holds."""
    store = as_store(where)
    trials = load_trials(store, config)
    metric, mode = config.train.metric, config.train.mode
    importance = hparam_importance(trials, config.search_space(), metric)
    plots = write_plots(store.child(PLOTS_DIR), trials, config, importance)
    store.write_text(
        SUMMARY_FILE,
        summary_markdown(trials, metric, mode, config.name)
        + plots_markdown(plots, importance, metric),
    )
    if trials and trials[0].best is not None:
        text = yaml.safe_dump(best_config(config, trials[0]), sort_keys=False)
        store.write_text(BEST_CONFIG_FILE, text)
    return trials


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class Importance:
    """How much of the metric's spread across the trials each tuned hyperparameter explains.

    ``scores`` sum to 1, most important first; they are empty, with ``reason`` saying why, when
    the trials cannot tell. ``trials`` counts the trials used; ``missing`` the trials that a
    conditional hyperparameter did not apply to.

    Example:
        >>> importance = Importance({"lr": 0.7, "dropout": 0.2, "batch_size": 0.1})
        >>> importance.advice("lr"), importance.advice("dropout")
        ('finely', 'coarsely')
    """

    scores: dict[str, float]
    reason: str = ""
    trials: int = 0
    missing: dict[str, int] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """The even share ``1 / n``: a hyperparameter at or above it is worth tuning finely."""
        return 1 / len(self.scores) if self.scores else 1.0

    def advice(self, name: str) -> str:
        """``finely`` or ``coarsely``: how to tune ``name`` next time."""
        # The tolerance keeps an exactly even split (every score 1/n) all "finely".
        return "finely" if self.scores[name] >= self.threshold - 1e-9 else "coarsely"


def hparam_importance(trials: list[TrialRecord], space: SearchSpace, metric: str) -> Importance:
    """Estimates each tuned hyperparameter's importance from the trials that have a metric.

    A random forest learns each trial's best ``metric`` from its hyperparameters (log10 of
    log-scale ones, categories as codes); how much worse it predicts once one hyperparameter's
    column is shuffled is that hyperparameter's importance (scikit-learn's permutation
    importance), normalised to sum 1. Where a conditional hyperparameter does not apply, its
    absence counts as a value of its own.
    """
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    scored = _scored(trials)
    dims = [dim for dim in _tuned_dims(scored, space) if _varies(dim, scored)]
    reason = _importance_skip_reason(scored, dims, metric)
    if reason:
        return Importance({}, reason, len(scored))
    x = np.column_stack([_codes(dim, scored) for dim in dims])
    y = np.array([trial.best for trial in scored])
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0)
    forest.fit(x, y)
    raw = np.clip(_permutation_importance(forest, x, y), 0.0, None)
    if raw.sum() <= 0:
        return Importance({}, f"no hyperparameter explains the spread in `{metric}`.", len(scored))
    shares = sorted(zip([d.name for d in dims], raw / raw.sum(), strict=True), key=lambda p: -p[1])
    missing = {d.name: sum(d.name not in t.hparams for t in scored) for d in dims}
    return Importance(
        {name: float(share) for name, share in shares},
        trials=len(scored),
        missing={name: count for name, count in missing.items() if count},
    )


def _permutation_importance(
    model: Any, x: Any, y: Any, repeats: int = _IMPORTANCE_REPEATS, seed: int = 0
) -> Any:
    """Per column of ``x``: the mean drop in ``model``'s R² when that column is shuffled.

    scikit-learn's ``permutation_importance`` predicts once per column and repeat, and each
    call dispatches every tree; here every shuffled copy is stacked and predicted in one call,
    which is what makes the summary of a large experiment take a fraction of a second.
    """
    import numpy as np
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(seed)
    rows, cols = x.shape
    copies = np.repeat(x[np.newaxis], cols * repeats, axis=0)
    for col in range(cols):
        for repeat in range(repeats):
            copies[col * repeats + repeat, :, col] = x[rng.permutation(rows), col]
    predicted = model.predict(copies.reshape(-1, cols)).reshape(cols, repeats, rows)
    baseline = r2_score(y, model.predict(x))
    scores = np.array([[r2_score(y, p) for p in per_col] for per_col in predicted])
    return baseline - scores.mean(axis=1)


def _importance_skip_reason(scored: list[TrialRecord], dims: list[Dimension], metric: str) -> str:
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE:
        return (
            f"it needs at least {MIN_TRIALS_FOR_IMPORTANCE} trials with a `{metric}`; "
            f"got {len(scored)}."
        )
    if not dims:
        return "no tuned hyperparameter takes more than one value across the trials."
    if len({trial.best for trial in scored}) == 1:
        return f"every trial reached the same `{metric}`."
    return ""


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
    """Writes ``figure`` as PNG through the store's filesystem (local or ``s3://`` alike)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    store.fs.create_dir(store.path, recursive=True)
    with store.fs.open_output_stream(f"{store.path}/{name}") as stream:
        stream.write(buffer.getvalue())


# Figures are built as matplotlib ``Figure`` objects, never through pyplot: saving one renders
# with Agg, so no display is needed, no global backend is switched in the caller's process (a
# notebook), and nothing stays registered to close.


def plot_learning_curves(trials: list[TrialRecord], metric: str, mode: str) -> Any:
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
        if trial.status != "completed":
            ax.plot(epochs[-1], values[-1], marker="x", color=color, ms=6)
    ax.set(xlabel="epoch", ylabel=metric, title=f"Learning curves: {metric} of every trial")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    handles = _status_handles(drawn, best, metric)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return figure


def plot_metric_vs_hparams(
    trials: list[TrialRecord], space: SearchSpace, metric: str, mode: str
) -> Any:
    """One scatter panel per tuned hyperparameter: each trial's best ``metric`` against its value
    (log axes for log-scale hyperparameters, jittered categories), the best trial as a star."""
    from matplotlib.figure import Figure

    scored = _scored(trials)
    dims = _tuned_dims(scored, space)
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
    ax.set_title(f"{dim.name} (log scale)" if _is_log(dim) else dim.name, fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def _place_on_x(ax: Any, dim: Dimension, trials: list[TrialRecord]) -> list[float]:
    """Sets up ``ax``'s x-axis for ``dim`` and returns each trial's x position on it."""
    import random

    from matplotlib.ticker import NullFormatter, ScalarFormatter

    values = [trial.hparams[dim.name] for trial in trials]
    if dim.kind == "choice":
        categories = _categories(dim, trials)
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
    elif _is_log(dim):
        ax.set_xscale("log")
    else:
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))  # 1e-4, not 0.00010
    return [float(value) for value in values]


def plot_parallel_coordinates(
    trials: list[TrialRecord], space: SearchSpace, metric: str, mode: str
) -> Any:
    """Parallel coordinates: one vertical axis per tuned hyperparameter (scaled to [0, 1] over
    the values tried, log-scale ones in log, categories evenly spaced) and one for ``metric``;
    one polyline per trial, coloured by its best ``metric``. A gap: the hyperparameter did not
    apply to that trial."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    scored = _scored(trials)
    dims = _tuned_dims(scored, space)
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
        scaled = [_scaled(dim, value) if value is not None else math.nan for value in raw]
        return _unit_numeric(scaled, [value for value in raw if value is not None], digits=3)
    categories = _categories(dim, trials)
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
    """A horizontal bar per hyperparameter, most important on top, coloured by the advice
    (finely or coarsely); ``None`` when the importance was skipped."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if not importance.scores:
        return None
    names = list(importance.scores)[::-1]
    shares = [importance.scores[name] for name in names]
    fine = [importance.advice(name) == "finely" for name in names]
    figure = Figure(figsize=(6.5, 0.4 * len(names) + 1.4), layout="constrained")
    ax = figure.subplots()
    bars = ax.barh(names, shares, color=[_BEST_COLOR if f else "tab:gray" for f in fine])
    ax.bar_label(bars, fmt="%.2f", padding=3, fontsize=8)
    ax.axvline(importance.threshold, color="black", ls="--", lw=0.8)
    ax.set_xlim(0, max(shares) * 1.18)
    ax.set(xlabel="importance (share of the total)", title="Which hyperparameters mattered")
    handles = [
        Patch(color=_BEST_COLOR, label="tune finely"),
        Patch(color="tab:gray", label="tune coarsely"),
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
            marker="o" if star else ("x" if status != "completed" else ""),
            ls="" if star else "-",
        )
        for status in statuses
    ]
    if best is not None and best.best is not None:
        label = f"best: {best.name} ({metric} {best.best:.4g})"
        style = {"marker": "*", "ms": 12, "mec": "black", "ls": ""} if star else {"lw": 2.5}
        handles.append(Line2D([], [], color=_BEST_COLOR, label=label, **style))
    return handles


_PLOT_TEXT = {
    LEARNING_CURVES_PNG: (
        "learning curves",
        "`{metric}` per epoch, one line per trial; a cross marks a trial stopped early, the best "
        "trial is the thick red line.",
    ),
    METRIC_VS_HPARAMS_PNG: (
        "{metric} against each hyperparameter",
        "Each trial's best `{metric}` against each tuned hyperparameter (the star: the best "
        "trial). A clear trend or a narrow peak: tune it finely; a flat cloud: coarsely.",
    ),
    PARALLEL_COORDINATES_PNG: (
        "parallel coordinates",
        "One line per trial across all tuned hyperparameters, coloured by its best `{metric}`; "
        "where the good lines bunch together is where to search next.",
    ),
}


def plots_markdown(plots: list[str], importance: Importance, metric: str) -> str:
    """The summary's plot and importance sections, linking the files of ``plots`` (names under
    ``plots/``, relative to ``summary.md``)."""
    lines = ["", "## Plots", ""]
    if not any(name in _PLOT_TEXT for name in plots):
        lines += [f"No trial has reported `{metric}` yet: nothing to plot.", ""]
    for name in plots:
        if name in _PLOT_TEXT:
            alt, text = (part.format(metric=metric) for part in _PLOT_TEXT[name])
            lines += [f"![{alt}]({PLOTS_DIR}/{name})", "", text, ""]
    lines += ["## Which hyperparameters mattered", "", *_importance_lines(importance, metric)]
    if IMPORTANCE_PNG in plots:
        lines += ["", f"![hyperparameter importance]({PLOTS_DIR}/{IMPORTANCE_PNG})"]
    return "\n".join(lines) + "\n"


def _importance_lines(importance: Importance, metric: str) -> list[str]:
    if not importance.scores:
        return [f"Importance skipped: {importance.reason}"]
    # No outer pipes: the trial table above stays the only one whose lines start with "| ".
    lines = [
        f"Estimated from {importance.trials} trials' best `{metric}` (a random forest's "
        "permutation importance; pruned trials count with what they reached).",
        "",
        "hyperparameter | importance | tune",
        "---|---:|---",
        *(f"`{n}` | {s:.2f} | {importance.advice(n)}" for n, s in importance.scores.items()),
        "",
        f"Rule: *finely* where the importance is at least the even share "
        f"1/{len(importance.scores)} = {importance.threshold:.2f}, *coarsely* below it.",
    ]
    if importance.trials < _FEW_TRIALS:
        lines += ["", f"Only {importance.trials} trials: a rough guide, not a verdict."]
    if importance.missing:
        absent = ", ".join(f"`{n}` (in {k})" for n, k in importance.missing.items())
        lines += [
            "",
            f"Not set in every trial (its absence counts as a value of its own): {absent}.",
        ]
    return lines


def _scored(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that have a metric."""
    return [trial for trial in trials if trial.best is not None]


def _best(trials: list[TrialRecord], mode: str) -> TrialRecord | None:
    scored = _scored(trials)
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda trial: float(trial.best))  # type: ignore[arg-type]


def _tuned_dims(trials: list[TrialRecord], space: SearchSpace) -> list[Dimension]:
    """The searched (not fixed) dimensions that some trial has."""
    return [
        dim
        for dim in space.dims
        if not dim.fixed and any(dim.name in trial.hparams for trial in trials)
    ]


def _varies(dim: Dimension, trials: list[TrialRecord]) -> bool:
    taken = {(dim.name in trial.hparams, trial.hparams.get(dim.name)) for trial in trials}
    return len(taken) > 1


def _is_log(dim: Dimension) -> bool:
    return dim.kind in ("log", "pow2") or dim.name == LR


def _scaled(dim: Dimension, value: Any) -> float:
    """``value`` on the scale it is searched on: log10 for log-scale hyperparameters."""
    return math.log10(value) if _is_log(dim) else float(value)


def _categories(dim: Dimension, trials: list[TrialRecord]) -> list[Any]:
    """The dimension's choices, then any other value a trial took (a narrowed or older space)."""
    taken = [trial.hparams[dim.name] for trial in trials if dim.name in trial.hparams]
    return [*dim.choices, *dict.fromkeys(value for value in taken if value not in dim.choices)]


def _codes(dim: Dimension, trials: list[TrialRecord]) -> list[float]:
    """One number per trial for the forest: the category's index, or the value on its search
    scale; where ``dim`` does not apply, a value of its own (-1, or below every value tried)."""
    if dim.kind == "choice":
        categories = _categories(dim, trials)
        return [
            float(categories.index(trial.hparams[dim.name])) if dim.name in trial.hparams else -1.0
            for trial in trials
        ]
    tried = [_scaled(dim, trial.hparams[dim.name]) for trial in trials if dim.name in trial.hparams]
    absent = min(tried) - (max(tried) - min(tried) or 1.0)
    return [
        _scaled(dim, trial.hparams[dim.name]) if dim.name in trial.hparams else absent
        for trial in trials
    ]
