"""``summary.md`` (one row per trial, the plots, which hyperparameters mattered) and
``best_config.yaml`` (the config with the best trial's values), written from the experiment
folder alone.

Example:
    >>> from raytune_hp.report.trials import TrialRecord
    >>> trials = [
    ...     TrialRecord("001_lr1.0e-02", "completed", {"lr": 0.01, "layers": 2}, 0.97, 10,
    ...                 number=1, last=0.96),
    ...     TrialRecord("002_lr3.0e-04", "stopped early", {"lr": 3e-4, "layers": 2}, 0.9, 2,
    ...                 number=2, last=0.9),
    ... ]
    >>> for line in summary_markdown(trials, "val_acc", "max").splitlines()[6:]:
    ...     print(line)
    The same in every trial: `layers` = 2.
    <BLANKLINE>
    | run | val_acc | last | epochs | status | lr |
    |---|---|---|---|---|---|
    | 001_lr1.0e-02 | 0.97 | 0.96 | 10 | completed | 0.01 |
    | 002_lr3.0e-04 | 0.9 |  | 2 | stopped early | 3e-4 |
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.budget.ledger import BudgetRecord
from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import Mode
from raytune_hp.report.budget import budget_spending
from raytune_hp.report.history import last_improvement
from raytune_hp.report.importance import Importance, hparam_importance
from raytune_hp.report.plots import (
    IMPORTANCE_PNG,
    LEARNING_CURVES_PNG,
    METRIC_VS_HPARAMS_PNG,
    OPTIMIZATION_HISTORY_PNG,
    PARALLEL_COORDINATES_PNG,
    write_plots,
)
from raytune_hp.report.trials import TrialRecord, load_trials
from raytune_hp.spaces import OUTSIDE, RESERVED_KEYS, SearchSpace, format_space
from raytune_hp.storage import BEST_CONFIG_FILE, PLOTS_DIR, SUMMARY_FILE, ExperimentStore, as_store
from raytune_hp.values import compact

_FEW_TRIALS = 20  # below this, the importance section says it is a rough guide
_TRUSTED = 0.5  # an out-of-bag R² below this makes the ranking a weak hint
WIDTH = 100
"""The width the summary's prose is wrapped to, and the table is kept within where the tuned
hyperparameters allow: a Markdown file read as text in a terminal or beside the code."""


def summary_markdown(
    trials: list[TrialRecord],
    metric: str,
    mode: Mode,
    title: str = "",
    space: SearchSpace | None = None,
    budget: str = "",
) -> str:
    """The summary's head: what the score is, how the budget was spent (``budget``: the line of
    :func:`raytune_hp.report.budget.budget_spending`, where there is one), the hyperparameters
    every trial shared, and one table row per trial, best first, with the notes its rows leave
    out below it.

    The table starts with what a reader looks for: the run (its name starts with the trial's
    number; a folder of an older raytune-hp, named by trial ids, gets a ``#`` column), its
    score (the best epoch's ``metric``), the last epoch's where it reads differently, the
    epochs it trained and how it ended; then each hyperparameter that varied, numbers to three
    digits. A hyperparameter every trial shared is written once above the table: with
    ``space``, those it fixed apart from those it searched. Why a trial failed, was skipped or
    retried, and which models broke the capacity rule, are notes under it, keyed by the run.
    """
    keys: list[str] = []
    for trial in trials:
        keys += [k for k in trial.hparams if k not in keys]
    shared = _shared(trials, keys, space)
    varied = [key for key in keys if key not in shared]
    phased = any(trial.phase for trial in trials)
    # A run's name starts with its number (007_adam_lr3.2e-03); a folder named by an older
    # raytune-hp (8-hex trial ids) gets the number as a column of its own.
    numbered = not all(trial.name.startswith(f"{trial.number:03d}_") for trial in trials)
    columns = [*(["#"] if numbered else []), "run", *(["phase"] if phased else [])]
    columns += [metric, "last", "epochs", "status"]
    columns += varied
    direction = "higher" if mode == "max" else "lower"
    head = [
        f"# {title}" if title else "# Experiment summary",
        "",
        *_wrap(
            f"{len(trials)} trials, sorted by `{metric}` (best epoch of each trial; {direction} is "
            f"better): score = the best epoch's `{metric}`; `last` = the last epoch's, shown "
            "where it differs. An empty cell: the hyperparameter does not apply to that trial."
        ),
        "",
        *([*_wrap(budget), ""] if budget else []),
        *_shared_lines(shared, space),
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = []
    for trial in trials:
        best = compact(trial.best) if trial.best is not None else "–"
        last = compact(trial.last) if trial.last is not None else ""
        cells = [
            *([str(trial.number)] if numbered else []),
            trial.name,
            *([trial.phase] if phased else []),
            best,
            "" if last == best else last,
            str(trial.epochs),
            trial.status,
            *(compact(trial.hparams[k]) if k in trial.hparams else "" for k in varied),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + rows + _notes(trials)) + "\n"


def _shared(
    trials: list[TrialRecord], keys: list[str], space: SearchSpace | None
) -> dict[str, Any]:
    """The hyperparameters every trial has with one value. With a single trial only those the
    space fixes: its searched ones stay in the table, where a reader looks for them."""
    shared = {}
    for key in keys:
        values = {repr(trial.hparams.get(key, _ABSENT)) for trial in trials}
        fixed = space is not None and key not in space.tuned
        if values != {repr(_ABSENT)} and len(values) == 1 and (len(trials) > 1 or fixed):
            shared[key] = trials[0].hparams[key]
    return shared


_ABSENT = object()


def _shared_lines(shared: dict[str, Any], space: SearchSpace | None) -> list[str]:
    if not shared:
        return []
    if space is None:
        groups = {"The same in every trial": shared}
    else:
        groups = {
            "Fixed": {k: v for k, v in shared.items() if k not in space.tuned},
            "Searched, but the same in every trial": {
                k: v for k, v in shared.items() if k in space.tuned
            },
        }
    lines = []
    for label, values in groups.items():
        if values:
            listed = ", ".join(f"`{k}` = {compact(v)}" for k, v in values.items())
            lines += [*_wrap(f"{label}: {listed}."), ""]
    return lines


def _notes(trials: list[TrialRecord]) -> list[str]:
    """What the rows leave out, one line per run: why it failed, was skipped or retried; then
    the runs whose models broke the capacity rule."""
    # One line each, however long: an error message stays whole for grep.
    notes = [
        [f"- `{trial.name}` ({trial.status}): {trial.detail}"] for trial in trials if trial.detail
    ]
    over = [trial.name for trial in trials if trial.over_capacity]
    if over:
        which = (
            f"all {len(over)} trials"
            if len(over) == len(trials) > 1
            else ", ".join(f"`{name}`" for name in over)
        )
        notes.append(
            _wrap(
                f"Over capacity: {which}. Their models had more trainable parameters than half "
                "the training samples; they may have memorised the training set rather than "
                "learned.",
                indent="- ",
            )
        )
    if not notes:
        return []
    return ["", "Notes:", "", *(line for note in notes for line in note)]


def _wrap(text: str, indent: str = "") -> list[str]:
    """``text`` as lines of at most :data:`WIDTH` characters (a list item's continuation
    lines indented under its first)."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=indent,
        subsequent_indent=" " * len(indent),
        break_long_words=False,
        break_on_hyphens=False,
    )


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
    ``outside_table`` as the experiment's was (or as ``bounds: wide`` allowed)."""
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
        elif dim.outside or dim.widened:  # a value from a widened range may leave its table
            overrides[name] = {"value": value, OUTSIDE: True}
        else:
            overrides[name] = value
    return overrides


def space_markdown(space: SearchSpace) -> str:
    """The summary's last section: the space searched, each hyperparameter's hard range and
    prior (``raytune-hp spaces --config``'s table)."""
    table = format_space(space).split("\n", 2)[2]  # its own title gives way to the section's
    return f"\n## The search space\n\n{table}"


def write_reports(
    where: ExperimentStore | str | Path, config: ExperimentConfig
) -> list[TrialRecord]:
    """(Re)writes ``summary.md``, ``best_config.yaml`` and ``plots/`` from what the folder holds."""
    store = as_store(where)
    trials = load_trials(store, config)
    metric, mode = config.train.metric, config.train.mode
    importance = hparam_importance(
        trials, config.search_space(), metric, mode, config.train.max_epochs
    )
    plots = write_plots(store.child(PLOTS_DIR), trials, config, importance)
    spending = budget_spending(trials, config, BudgetRecord.read(store).seconds)
    space = config.search_space()
    store.write_text(
        SUMMARY_FILE,
        summary_markdown(trials, metric, mode, config.name, space, spending)
        + plots_markdown(plots, importance, metric, last_improvement(trials, mode, metric))
        + space_markdown(space),
    )
    if trials and trials[0].best is not None:
        text = yaml.safe_dump(best_config(config, trials[0]), sort_keys=False)
        store.write_text(BEST_CONFIG_FILE, text)
    return trials


_PLOT_TEXT = {
    OPTIMIZATION_HISTORY_PNG: (
        "optimization history",
        "Each trial's `{metric}` (hollow: stopped early, at the epoch it reached) and the best so "
        "far (the red line), against the trial's number and the wall time: a line still rising "
        "at the right says more trials may help; a line flat for long says they will not.",
    ),
    LEARNING_CURVES_PNG: (
        "learning curves",
        "`{metric}` per epoch, one line per trial; a cross marks a trial stopped early, the best "
        "trial is the thick red line.",
    ),
    METRIC_VS_HPARAMS_PNG: (
        "{metric} against each hyperparameter",
        "Each trial's best `{metric}` against each tuned hyperparameter (the star: the best "
        "trial). A clear trend or a narrow peak: it matters; a flat cloud: it does not.",
    ),
    PARALLEL_COORDINATES_PNG: (
        "parallel coordinates",
        "One line per trial across all tuned hyperparameters, coloured by its best `{metric}`; "
        "where the good lines bunch together is where to search next.",
    ),
}


def plots_markdown(plots: list[str], importance: Importance, metric: str, history: str = "") -> str:
    """The summary's plot and importance sections, linking the files of ``plots`` (names under
    ``plots/``, relative to ``summary.md``); ``history`` is said under the optimization
    history (:func:`raytune_hp.report.history.last_improvement`)."""
    lines = ["", "## Plots", ""]
    if not any(name in _PLOT_TEXT for name in plots):
        lines += [f"No trial has reported `{metric}` yet: nothing to plot.", ""]
    for name in plots:
        if name in _PLOT_TEXT:
            alt, text = (part.format(metric=metric) for part in _PLOT_TEXT[name])
            if name == OPTIMIZATION_HISTORY_PNG and history:
                text = f"{text} {history}"
            lines += [f"![{alt}]({PLOTS_DIR}/{name})", "", *_wrap(text), ""]
    lines += ["## Which hyperparameters mattered", "", *_importance_lines(importance, metric)]
    if IMPORTANCE_PNG in plots:
        lines += ["", f"![hyperparameter importance]({PLOTS_DIR}/{IMPORTANCE_PNG})"]
    return "\n".join(lines) + "\n"


def _importance_lines(importance: Importance, metric: str) -> list[str]:
    if not importance.scores:
        return _wrap(f"Importance skipped: {importance.reason}")
    lines = [*_wrap(_compared_at(importance, metric)), ""]
    # A numbered list, not a table: the trial table above stays the only one whose lines
    # start with "| " (readers count its rows).
    for rank, (name, share) in enumerate(importance.scores.items(), start=1):
        advice = importance.advice[name].text
        lines += _wrap(f"`{name}` (importance {share:.2f}): {advice}", indent=f"{rank}. ")
    if importance.trials < _FEW_TRIALS:
        lines += ["", f"Only {importance.trials} trials compared: a rough guide, not a verdict."]
    if importance.missing:
        absent = ", ".join(f"`{n}` (in {k})" for n, k in importance.missing.items())
        lines += [
            "",
            *_wrap(f"Not set in every trial (its absence counts as a value of its own): {absent}."),
        ]
    return lines


def _compared_at(importance: Importance, metric: str) -> str:
    """Which trials the importance compares, at which epoch and why that one, and how far the
    ranking can be trusted."""
    scored, compared = importance.scored, importance.trials
    if importance.budget:
        why = ", the whole budget"
    elif compared < scored:
        why = f", the last that at least {importance.needed} trials reached"
    else:
        why = ""
    who = (
        f"all {scored} trials reached it, each scored by its best `{metric}` up to it"
        if compared == scored
        else f"{compared} of the {scored} trials reached it, each scored by its best `{metric}` "
        f"up to it; the {scored - compared} others are not ranked with an earlier epoch's score"
    )
    spread = ""
    if importance.spread is not None:
        low, high = sorted(importance.spread)
        spread = f" ({compact(low)} to {compact(high)})"
    trust = ""
    if importance.explained is not None and importance.explained <= 0:
        trust = (
            "; the hyperparameters do not predict that spread for trials the forest did not see "
            "(its out-of-bag R² is at most 0), so the ranking is noise and only the advice counts"
        )
    elif importance.explained is not None:
        trust = (
            f"; the hyperparameters predict {round(100 * importance.explained)}% of that spread "
            "for trials the forest did not see (its out-of-bag R²)"
        )
        if importance.explained < _TRUSTED:
            trust += ", so read the ranking as a weak hint"
    return (
        f"Compared at epoch {importance.epoch}{why}: {who}. The ranking is a random forest's "
        f"permutation importance, the share of the spread in `{metric}`{spread} each "
        f"hyperparameter explains{trust}. What to do comes from the scores, counting where each "
        "trial that ended earlier stood when it stopped."
    )
