"""``summary.md`` (one row per trial, the plots, which hyperparameters mattered) and
``best_config.yaml`` (the config with the best trial's values), written from the experiment
folder alone.

Example:
    >>> from raytune_hp.report.trials import TrialRecord
    >>> trials = [TrialRecord("t1", "completed", {"lr": 0.01}, 0.97, 10)]
    >>> print(summary_markdown(trials, "val_acc", "max").splitlines()[-1])
    | 1 | t1 | 0.01 | 0.9700 | 10 | completed |
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from raytune_hp.config import ExperimentConfig
from raytune_hp.report.importance import Importance, hparam_importance
from raytune_hp.report.plots import (
    IMPORTANCE_PNG,
    LEARNING_CURVES_PNG,
    METRIC_VS_HPARAMS_PNG,
    PARALLEL_COORDINATES_PNG,
    write_plots,
)
from raytune_hp.report.trials import TrialRecord, load_trials
from raytune_hp.spaces import OUTSIDE, RESERVED_KEYS
from raytune_hp.storage import BEST_CONFIG_FILE, PLOTS_DIR, SUMMARY_FILE, ExperimentStore, as_store

_FEW_TRIALS = 20  # below this, the importance table says it is a rough guide


def summary_markdown(trials: list[TrialRecord], metric: str, mode: str, title: str = "") -> str:
    """A Markdown table: one row per trial, best first, every hyperparameter as a column."""
    keys: list[str] = []
    for trial in trials:
        keys += [k for k in trial.hparams if k not in keys]
    direction = "higher" if mode == "max" else "lower"
    phased = any(trial.phase for trial in trials)
    columns = ["rank", "trial", *(["phase"] if phased else []), *keys, metric, "epochs", "status"]
    over = [trial for trial in trials if trial.over_capacity]
    capacity = (
        [
            f"{len(over)} of them broke the capacity rule: their models had more trainable "
            "parameters than half the training samples (status: over capacity); they may have "
            "memorised the training set rather than learned.",
            "",
        ]
        if over
        else []
    )
    head = [
        f"# {title}" if title else "# Experiment summary",
        "",
        f"{len(trials)} trials, sorted by `{metric}` (best epoch of each trial; {direction} is "
        "better). An empty cell: the hyperparameter does not apply to that trial.",
        "",
        *capacity,
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = []
    for rank, trial in enumerate(trials, start=1):
        best = f"{trial.best:.4f}" if trial.best is not None else "–"
        status = f"{trial.status}: {trial.detail}" if trial.detail else trial.status
        if trial.over_capacity:
            status += ", over capacity"
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
    data["space"] = fixed_space(config, best.hparams)
    data["search"] = {"strategy": "random", "num_samples": 1}
    data["early_stopping"] = {"name": "none"}
    return data


def fixed_space(config: ExperimentConfig, hparams: dict[str, Any]) -> dict[str, Any]:
    """``space`` overrides that fix every hyperparameter to ``hparams``, in the terms the
    experiment's space was written in: the same tables (``include``, ``fine_tune``), a config's
    own hyperparameter as a one-value choice of its own, and a value outside its table marked
    ``outside_table`` as the experiment's was."""
    space = config.search_space()
    overrides: dict[str, Any] = {
        key: config.space[key] for key in RESERVED_KEYS if key in config.space
    }
    for name, value in hparams.items():
        if name not in space:
            continue
        dim = space[name]
        if dim.custom:
            overrides[name] = {"kind": "choice", "choices": [value]}
        elif dim.outside:
            overrides[name] = {"value": value, OUTSIDE: True}
        else:
            overrides[name] = value
    return overrides


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
