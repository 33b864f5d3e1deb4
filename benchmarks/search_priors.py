"""Search with priors and fidelity: which search finds a good model in 30 trials, with how many
epochs and how much time, on recorded learning curves and on synthetic multi-fidelity functions.

Every search is a replay (:mod:`tabular`): the method's own searcher and early stopping, built as
the product builds them, propose and prune; a proposal gets the learning curve of the nearest
recorded configuration of a task (:mod:`curve_tasks`, recorded once by
:mod:`record_curves`) or of an mf-prior-bench MFHartmann function (:mod:`mf_hartmann`). Two trials
run at once in virtual time, 30 trials per search for every method, ``--seeds`` seeds per cell
(each seeds the searcher; the curves are fixed).

Methods are a name plus config overrides (``METHODS``); those whose keys this checkout's config
does not accept yet are listed as skipped, with the reason, and run once the keys exist.

Usage (from the repository root)::

    .venv/bin/python benchmarks/search_priors.py --quick   # 20 seeds; mfh3/mfh6 good (~3 min idle)
    .venv/bin/python benchmarks/search_priors.py           # 100 seeds; + mfh3/mfh6 terrible
    .venv/bin/python benchmarks/search_priors.py --quick --out /tmp/check   # results/ untouched
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, header, load_line, write_result
from curve_tasks import DATA, TASKS, read_curves
from mf_hartmann import benchmarks as mfh_benchmarks
from tabular import TRIALS, AnyMethod, K, Method, OptunaMethod, SearchRun, run_method, unavailable

RESULTS_FILE, PLOT_FILE = "search_priors.md", "search_priors.png"
MARKS = (5, 10, 20, 30)

# Keys the search side adds (space.bounds, space.prior, search.fidelity, search.prior_weight,
# auto rungs): a method naming them is skipped until this checkout's config accepts them.
TODAY = {
    "space.bounds": "table",
    "space.prior": "uniform",
    "search.fidelity": "final",
    "early_stopping.grace_period": 2,
    "early_stopping.reduction_factor": 3,
}
DEFAULT = "default (bayes + ASHA)"
BAYES_NO_STOP = "bayes, no early stopping"
RANDOM, RANDOM_ASHA = "random, no early stopping", "random + ASHA"
PRIOR_FREE = "prior-free TPE + ASHA"
OPTUNA = "Optuna TPE"
METHODS: list[AnyMethod] = [
    # The product's default, whatever this checkout makes it: bayes (TPE over the wide ranges
    # under the tables' priors, strength 0.6, Ray handing it each trial's last result) + ASHA
    # with auto rungs (reduction 3, grace a ninth of the epochs).
    Method(DEFAULT, {}, priors=True),
    # The search side's pieces, each switched off, and today's behaviour pinned.
    Method("today's bayes + ASHA", TODAY, priors=False, note="tables' bounds, no prior, "
           "TPE on last results, grace 2, reduction 3"),
    Method(PRIOR_FREE, {"space.prior": "uniform"}, priors=False, note="default − priors"),
    Method("default − wide bounds", {"space.bounds": "table"}, priors=True),
    Method("default + fidelity-aware TPE", {"search.fidelity": "rungs"}, priors=True,
           note="TPE models on ASHA's rungs; measured, not the default"),
    Method("default − auto rungs", {"early_stopping.grace_period": 2,
                                    "early_stopping.reduction_factor": 3}, priors=True,
           note="grace 2, reduction 3", needs={"early_stopping.grace_period": "auto"}),
    # Today's methods.
    Method(BAYES_NO_STOP, {"early_stopping.name": "none"}, priors=True),
    Method(RANDOM_ASHA, {"search.strategy": "random"}),
    Method(RANDOM, {"search.strategy": "random", "early_stopping.name": "none"}),
    OptunaMethod(f"{OPTUNA}, no pruning", "none"),
    OptunaMethod(f"{OPTUNA} + median", "median"),
    OptunaMethod(f"{OPTUNA} + successive halving", "sha"),
    OptunaMethod(f"{OPTUNA} + Hyperband", "hyperband"),
]  # fmt: skip

# Candidate defaults (``--candidates``): each spells out every key, so that what it measures does
# not depend on this checkout's defaults. The measurements chose the defaults from these.
_NEW = {
    "space.bounds": "wide",
    "space.prior": "tables",
    "search.fidelity": "rungs",
    "early_stopping.grace_period": "auto",
    "early_stopping.reduction_factor": "auto",
}
CANDIDATES: list[AnyMethod] = [
    Method("wide, prior 0.8, rungs, auto", _NEW, priors=True),
    Method("wide, prior 0.8, final, auto", {**_NEW, "search.fidelity": "final"}, priors=True),
    Method("wide, prior 0.6, final, auto", {**_NEW, "search.fidelity": "final",
                                            "space.prior_strength": 0.6}, priors=True),
    Method("wide, prior 0.8, final, grace 2", {**_NEW, "search.fidelity": "final",
                                               "early_stopping.grace_period": 2,
                                               "early_stopping.reduction_factor": 3}, priors=True),
    Method("table, prior 0.8, final, auto", {**_NEW, "search.fidelity": "final",
                                             "space.bounds": "table"}, priors=True),
    Method("table, uniform, final, auto", {**_NEW, "search.fidelity": "final",
                                           "space.bounds": "table", "space.prior": "uniform"},
           priors=False),
    Method("wide, uniform, final, auto", {**_NEW, "search.fidelity": "final",
                                          "space.prior": "uniform"}, priors=False),
]  # fmt: skip
ALL = METHODS + CANDIDATES
COLORS = {
    DEFAULT: "tab:blue",
    BAYES_NO_STOP: "tab:cyan",
    RANDOM_ASHA: "tab:orange",
    RANDOM: "tab:brown",
    PRIOR_FREE: "tab:purple",
    f"{OPTUNA}, no pruning": "tab:pink",
    f"{OPTUNA} + median": "tab:red",
    f"{OPTUNA} + successive halving": "tab:olive",
    f"{OPTUNA} + Hyperband": "tab:gray",
}


@dataclass(frozen=True)
class Plan:
    seeds: int
    functions: tuple[str, ...]
    data: Path = DATA  # where the recorded tasks' files are


QUICK = Plan(20, ("mfh3_good", "mfh6_good"))
FULL = Plan(100, ("mfh3_good", "mfh6_good", "mfh3_terrible", "mfh6_terrible"))
SMOKE = Plan(2, ("mfh3_good",))

_BENCHES: dict[str, Any] = {}


def all_benchmarks(plan: Plan, tasks: Sequence[str]) -> list[Any]:
    from tabular import RecordedTask

    found: list[Any] = [RecordedTask(name, plan.data / TASKS[name].path.name) for name in tasks]
    found += mfh_benchmarks(list(plan.functions), (None, "good", "bad"))
    return found


def _bench(key: tuple[str, Plan, tuple[str, ...]]) -> Any:
    name, plan, tasks = key
    if not _BENCHES:
        for bench in all_benchmarks(plan, tasks):
            _BENCHES[bench.name] = bench
    return _BENCHES[name]


def _job(job: tuple[str, Plan, tuple[str, ...], int, int]) -> SearchRun:
    name, plan, tasks, method_index, seed = job
    return run_method(_bench((name, plan, tasks)), ALL[method_index], seed, TRIALS, K)


def cells(
    benches: list[Any], methods: Sequence[AnyMethod] = METHODS
) -> tuple[list[tuple[Any, AnyMethod]], list[str]]:
    """Which method runs on which benchmark, and why the others do not: a prior-free method runs
    on a function once (no prior), one that reads priors on its good and bad variants too."""
    runs = []
    reasons: dict[str, dict[str, None]] = {}  # why → the methods (ordered, no repeats)
    for bench in benches:
        prior = getattr(bench, "prior", None)
        for method in methods:
            if prior is not None and not method.priors:
                continue
            why = unavailable(method, bench)
            if why is None:
                runs.append((bench, method))
            else:
                name = method.name if prior is None else f"{method.name} with a prior"
                reasons.setdefault(
                    why.replace(bench.family if prior else bench.name, "<task>"), {}
                )[name] = None
    skipped = [f"{', '.join(names)}: {why}" for why, names in reasons.items()]
    return runs, skipped


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def stderr(values: Sequence[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def geomean(values: Sequence[float]) -> float:
    finite = [v for v in values if v > 0 and math.isfinite(v)]
    return math.exp(mean([math.log(v) for v in finite])) if finite else math.nan


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties).

    Example:
        >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3], [3, 2, 1])
        (1.0, -1.0)
    """
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class TaskStats:
    """How a recorded task's curves behave: the spread of scores and how often curves cross."""

    name: str
    configs: int
    epochs: int
    cpu_s: float
    size_kib: float
    quantiles: tuple[float, ...]  # best-epoch score at 10, 50, 90 % and the best
    early_epoch: int
    rho_top: float  # early vs final epoch among the best fifth
    rho_all: float
    rho_best: float  # early epoch vs the best epoch's score among the best fifth by that score
    leaders_overtaken: float  # share of the early top fifth that is not in the final top fifth
    diverged: int
    best_by_source: tuple[float, float]  # the best score among the tables' half, the wide half


def task_stats(name: str, data: Path = DATA, early_epoch: int = 2) -> TaskStats:
    task = TASKS[name]
    config = task.config()
    path = data / task.path.name
    _, curves = read_curves(path)
    sign = 1.0 if config.train.mode == "max" else -1.0
    full = [c for c in curves if len(c.metric) == config.train.max_epochs]
    best = [sign * max(sign * v for v in c.metric) for c in curves]
    final = np.array([sign * c.metric[-1] for c in full])
    early = np.array([sign * c.metric[early_epoch - 1] for c in full])
    top = np.argsort(-final)[: max(2, len(full) // 5)]
    early_top = set(np.argsort(-early)[: len(top)].tolist())
    scores = np.array([sign * max(sign * v for v in c.metric) for c in full])
    top_scores = np.argsort(-scores)[: len(top)]
    ordered = sorted(best, key=lambda v: sign * v)
    quantiles = tuple(ordered[int(q * (len(ordered) - 1))] for q in (0.1, 0.5, 0.9, 1.0))
    return TaskStats(
        name,
        len(curves),
        config.train.max_epochs,
        sum(c.seconds[-1] for c in curves),
        path.stat().st_size / 1024,
        quantiles,
        early_epoch,
        spearman(early[top], final[top]),
        spearman(early, final),
        spearman(early[top_scores], scores[top_scores]),
        1 - len(early_top & set(top.tolist())) / len(top),
        len(curves) - len(full),
        tuple(  # type: ignore[arg-type]
            sign * max(sign * b for b, c in zip(best, curves, strict=True) if c.source == source)
            for source in ("table", "wide")
        ),
    )


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _cell(values: Sequence[float], digits: int = 4) -> str:
    return f"{mean(values):.{digits}f} ± {stderr(values):.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else (math.inf if a > 0 else 1.0)


def best_optuna(runs: dict[str, list[SearchRun]]) -> str | None:
    """Optuna TPE with the pruner that reached the lowest mean final regret on this benchmark."""
    pruned = [m for m in runs if m.startswith(OPTUNA) and "no pruning" not in m]
    return min(pruned, key=lambda m: mean([r.final.regret for r in runs[m]]), default=None)


def bench_table(bench: Any, runs: dict[str, list[SearchRun]]) -> tuple[list[str], dict[str, Any]]:
    """One benchmark's table and the numbers the targets read."""
    no_stop = {m: mean([r.final.epochs for r in runs[m]]) for m in runs}
    reference_random = mean([r.final.regret for r in runs.get(RANDOM, [])])
    optuna = best_optuna(runs)
    reference_optuna = mean([r.final.regret for r in runs[optuna]]) if optuna else math.nan
    full_epochs = TRIALS * bench.max_epochs
    lines = [
        "| method | " + " | ".join(f"regret @{n}" for n in MARKS) + " | epochs (share of "
        f"{full_epochs}) | virtual s | stopped early | × random | × {optuna or 'Optuna'} |",
        "|---|" + "---|" * (len(MARKS) + 5),
    ]
    numbers: dict[str, Any] = {"optuna": optuna}
    for method, found in runs.items():
        finals = [r.final.regret for r in found]
        regret = mean(finals)
        numbers[method] = {
            "regret": regret,
            "se": stderr(finals),
            "epochs": no_stop[method],
            "at": {n: mean([r.at_trials(n).regret for r in found]) for n in range(1, TRIALS + 1)},
        }
        cells_ = [_cell([r.at_trials(n).regret for r in found]) for n in MARKS]
        lines.append(
            f"| {method} | "
            + " | ".join(cells_)
            + f" | {no_stop[method]:.0f} ({no_stop[method] / full_epochs:.2f})"
            + f" | {mean([r.final.seconds for r in found]):.0f}"
            + f" | {mean([sum(t.stopped for t in r.trials) for r in found]):.1f}"
            + f" | {ratio(regret, reference_random):.2f}"
            + f" | {ratio(regret, reference_optuna):.2f} |"
        )
    return lines, numbers


def task_lines(stats: list[TaskStats]) -> list[str]:
    lines = [
        "| task | configurations | epochs | best-epoch score: 10 % / median / 90 % / best "
        "| ρ(epoch 2, final), best fifth | ρ, all | ρ(epoch 2, best epoch), best fifth "
        "| early leaders overtaken | diverged "
        "| best: tables' half / wide half | recording, CPU s | file KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stats:
        q = " / ".join(f"{v:.3f}" for v in s.quantiles)
        lines.append(
            f"| {s.name} | {s.configs} | {s.epochs} | {q} | {s.rho_top:.2f} | {s.rho_all:.2f} "
            f"| {s.rho_best:.2f} "
            f"| {s.leaders_overtaken:.0%} | {s.diverged} "
            f"| {s.best_by_source[0]:.4f} / {s.best_by_source[1]:.4f} "
            f"| {s.cpu_s:.0f} | {s.size_kib:.0f} |"
        )
    return lines


def targets(numbers: dict[str, dict[str, Any]], recorded: list[str]) -> list[str]:
    """The issue's targets over the recorded tasks, met or not, with the numbers."""
    lines = ["| target | met | measured (mean over the recorded tasks of per-task ratios) |",
             "|---|---|---|"]  # fmt: skip

    def ratios(a: str, b: str, key: str = "regret") -> list[float]:
        return [
            ratio(numbers[t][a][key], numbers[t][b][key])
            for t in recorded
            if a in numbers[t] and b in numbers[t]
        ]

    within = [
        numbers[t][DEFAULT]["regret"]
        <= numbers[t][BAYES_NO_STOP]["regret"]
        + math.hypot(numbers[t][DEFAULT]["se"], numbers[t][BAYES_NO_STOP]["se"])
        for t in recorded
        if DEFAULT in numbers[t] and BAYES_NO_STOP in numbers[t]
    ]
    epochs = ratios(DEFAULT, BAYES_NO_STOP, "epochs")
    if within:
        met = all(within) and max(epochs) <= 0.4
        lines.append(
            f"| default's final regret ≤ bayes without early stopping's (within one s.e. of the "
            "difference) with "
            f"≤ 0.4× its epochs | {'yes' if met else '**no**'} | within on {sum(within)} of "
            f"{len(within)} tasks; regret {geomean(ratios(DEFAULT, BAYES_NO_STOP)):.2f}×, "
            f"epochs {mean(epochs):.2f}× (max {max(epochs):.2f}) |"
        )
    vs_optuna = [
        ratio(numbers[t][DEFAULT]["regret"], numbers[t][numbers[t]["optuna"]]["regret"])
        for t in recorded
        if DEFAULT in numbers[t] and numbers[t].get("optuna")
    ]
    if vs_optuna:
        value = geomean(vs_optuna)
        lines.append(
            f"| default's regret at 30 trials ≤ 0.5× Optuna TPE + its best pruner's "
            f"| {'yes' if value <= 0.5 else '**no**'} | {value:.2f}× (geometric mean; per task "
            + ", ".join(f"{v:.2f}" for v in vs_optuna)
            + ") |"
        )
    vs_random = ratios(DEFAULT, RANDOM)
    if vs_random:
        value = geomean(vs_random)
        lines.append(
            f"| default's regret at 30 trials ≤ 0.3× random search's | "
            f"{'yes' if value <= 0.3 else '**no**'} | {value:.2f}× (geometric mean; per task "
            + ", ".join(f"{v:.2f}" for v in vs_random)
            + ") |"
        )
    return lines


def prior_lines(numbers: dict[str, dict[str, Any]], functions: Sequence[str]) -> list[str]:
    """The prior targets on the synthetic functions, where the default ran with priors."""
    lines = []
    for function in functions:
        free = numbers.get(function, {}).get(PRIOR_FREE)
        good = numbers.get(f"{function} (good prior)", {}).get(DEFAULT)
        bad = numbers.get(f"{function} (bad prior)", {}).get(DEFAULT)
        if not (free and good and bad):
            continue
        goal = free["regret"]
        reached = next((n for n in range(1, TRIALS + 1) if good["at"][n] <= goal), None)
        speedup = TRIALS / reached if reached else 0.0
        lines.append(
            f"| {function} | {goal:.4f} | {good['regret']:.4f} | "
            f"{reached or '> 30'} ({speedup:.1f}× fewer; target ≥ 2) | {bad['regret']:.4f} "
            f"({ratio(bad['regret'], goal):.2f}×; target ≤ 1.25) |"
        )
    if lines:
        lines = [
            "| function | prior-free regret @30 | default, good prior, @30 | trials the good "
            "prior needs to reach the prior-free @30 | default, bad prior, @30 |",
            "|---|---|---|---|---|",
            *lines,
        ]
    return lines


def report(
    benches: list[Any],
    runs: dict[str, dict[str, list[SearchRun]]],
    skipped: list[str],
    stats: list[TaskStats],
    plan: Plan,
    command: str,
    runtime_s: float,
) -> str:
    lines = [
        *header(
            "Search with priors and fidelity: regret on recorded curves and MFHartmann",
            command,
            mode=(
                f"quick (`--quick`, what `make bench` runs): {plan.seeds} seeds per cell, "
                "MFHartmann with good priors only; the full mode runs 100 seeds and the terrible "
                "priors too"
                if "--quick" in command
                else None
            ),
        ),
        load_line(),
        f"- Seeds: 0–{plan.seeds - 1} per cell (each seeds the searcher or sampler; the curves "
        f"are fixed); {TRIALS} trials per search for every method, {K} at a time",
        "- Replay: each method's own searcher and early stopping (raytune-hp's built by "
        "`build_search` / `build_early_stopping` as an experiment builds them, driven through Ray "
        "Tune's Searcher and TrialScheduler interfaces; Optuna's through ask/tell with "
        "`report`/`should_prune`); a proposal gets the curve of the nearest recorded "
        "configuration (same categorical values, nearest on each numeric hyperparameter's "
        "search scale, normalised by the recorded span); virtual time from the recorded CPU "
        "seconds, a freed slot filled at once (`benchmarks/tabular.py`)",
        "- Score of a trial: its best epoch's metric among the epochs it trained; incumbent: the "
        "trial with the best score so far (what the tuner reports). Regret: the benchmark's "
        "best recorded score (best epoch of any configuration) minus the incumbent's, sign "
        "flipped for a metric to minimise",
        "- Epochs: trained by all 30 trials (a method's savings are reported, not spent on more "
        "trials); stopped early: trials the pruner stopped",
        "- × random: mean regret at 30 trials ÷ random search's without early stopping; "
        "× Optuna: ÷ that of Optuna TPE with the pruner that did best on that benchmark",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        f"![regret curves]({PLOT_FILE})",
        "",
        "## Recorded tasks",
        "",
        "Recorded once by `" + _record_command() + "` (`benchmarks/record_curves.py`). Each "
        "configuration trained with raytune-hp's own loop, torch seed 0, one thread; half drawn "
        "from the tables' space, half from the wide ranges (`benchmarks/curve_tasks.py`). ρ is "
        "Spearman's rank correlation of a configuration's metric at epoch 2 with its final one "
        "(among the best fifth by final metric, and among all) and with its best epoch's (among "
        "the best fifth by that score); *early leaders overtaken*: the share of the best fifth "
        "at epoch 2 that is not in the best fifth at the end; *diverged*: curves that ended "
        "early with a loss that was not finite.",
        "",
        *task_lines(stats),
        "",
    ]
    for bench in benches:
        lines += (
            [f"- `{bench.name}`: {getattr(bench, 'description', '')}"]
            if hasattr(bench, "description")
            else []
        )
    lines.append("")
    numbers: dict[str, dict[str, Any]] = {}
    for bench in benches:
        if bench.name not in runs:
            continue
        table, numbers[bench.name] = bench_table(bench, runs[bench.name])
        kind = "recorded" if hasattr(bench, "description") else "MFHartmann, 50 epochs = z 2..100"
        lines += [
            f"## {bench.name} ({kind}; {bench.metric}, {bench.mode}; best {bench.reference:.4f})",
            "",
            *table,
            "",
        ]
    recorded = [b.name for b in benches if hasattr(b, "description") and b.name in numbers]
    lines += ["## Targets (issue 16), on the recorded tasks", "", *targets(numbers, recorded), ""]
    priors = prior_lines(numbers, plan.functions)
    lines += ["## Priors on MFHartmann (the default with a good and a bad prior)", ""]
    lines += priors or [
        "Not measured yet: no method that reads priors ran with one (this checkout's config does "
        "not accept a custom dimension's `prior:`)."
    ]
    lines.append("")
    if skipped:
        lines += ["## Methods skipped in this run", ""]
        lines += [f"- {line}" for line in skipped]
        lines.append("")
    lines += ["## Methods", ""]
    ran = [m for m in ALL if any(m.name in by_method for by_method in runs.values())]
    for method in ran:
        what = (
            f"overrides `{dict(method.overrides)}`"
            if isinstance(method, Method)
            else f"Optuna TPESampler (defaults), pruner `{method.pruner}`"
        )
        lines.append(f"- {method.name}: {what}" + (f" ({method.note})" if method.note else ""))
    lines += [
        "",
        "Optuna's pruners for E epochs: median after 5 trials and E/10 warm-up epochs; "
        "successive halving from epoch 2, reduction factor 3 (ASHA's rungs as raytune-hp sets "
        "them); Hyperband from 1 to E epochs, reduction factor 3.",
    ]
    return "\n".join(lines) + "\n"


def _record_command() -> str:
    from curve_tasks import RECORD_COMMAND

    return RECORD_COMMAND


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------


def _regret_at(run: SearchRun, axis: str, grid: np.ndarray) -> np.ndarray:
    xs = np.array([getattr(s, axis) for s in run.steps], dtype=float)
    regrets = np.array([s.regret for s in run.steps])
    done = np.searchsorted(xs, grid, side="right")
    return np.where(done > 0, regrets[np.maximum(done - 1, 0)], np.nan)


def plot(benches: list[Any], runs: dict[str, dict[str, list[SearchRun]]]) -> Any:
    from matplotlib.figure import Figure

    shown = [b for b in benches if b.name in runs]
    figure = Figure(figsize=(15, 3.6 * len(shown)), layout="constrained")
    axes = figure.subplots(len(shown), 3, squeeze=False)
    for row, bench in enumerate(shown):
        by_method = runs[bench.name]
        for column, (axis, label) in enumerate(
            (("trials", "trials finished"), ("epochs", "epochs trained"),
             ("seconds", "virtual seconds (recorded training time, 2 at once)"))
        ):  # fmt: skip
            ax = axes[row][column]
            horizon = max(getattr(r.final, axis) for found in by_method.values() for r in found)
            grid = (
                np.arange(1, TRIALS + 1, dtype=float)
                if axis == "trials"
                else np.linspace(0, horizon, 300)
            )
            floor = math.inf
            for method, found in by_method.items():
                curves = np.array([_regret_at(r, axis, grid) for r in found])
                # From the first point where every seed has a finished trial to the point where
                # every seed's search has ended: past it a method spends nothing more.
                ended = max(getattr(r.final, axis) for r in found)
                defined = ~np.isnan(curves).any(axis=0) & (grid <= ended)
                average = np.where(defined, np.nanmean(curves, axis=0), np.nan)
                spread = np.where(
                    defined, np.nanstd(curves, axis=0, ddof=1) / math.sqrt(len(found)), np.nan
                )
                positive = average[defined & (average > 0)]
                floor = min(floor, positive.min() if positive.size else math.inf)
                color = COLORS.get(method)
                style = "--" if method.startswith(OPTUNA) else "-"
                ax.plot(grid, average, style, label=method, lw=1.5, color=color)
                if axis != "trials" and defined.any():
                    last = int(np.flatnonzero(defined)[-1])
                    ax.plot(grid[last], average[last], "o", ms=3, color=color)
                ax.fill_between(grid, average - spread, average + spread, alpha=0.15, color=color)
            ax.set(xlabel=label, ylabel="mean regret ± s.e.", yscale="log")
            if math.isfinite(floor):
                ax.set_ylim(bottom=floor / 2)
            ax.grid(alpha=0.3)
            ax.set_title(f"{bench.name}: regret against {axis}", fontsize=9)
        axes[row][0].legend(fontsize=6)
    return figure


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    # Empty slices (no seed finished a trial yet) and constant ranks are expected, not news.
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message=".*constant.*")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 seeds; mfh3/mfh6 good")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, help="seeds per cell (default: 20 quick, 100 full)")
    parser.add_argument("--task", action="append", choices=list(TASKS), help="default: all")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument(
        "--candidates", action="store_true", help="also the candidate defaults (CANDIDATES)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the recorded curves")
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    plan = Plan(args.seeds or plan.seeds, plan.functions, args.data)
    tasks = tuple(args.task or TASKS)
    command = " ".join([".venv/bin/python", "benchmarks/search_priors.py", *sys.argv[1:]])
    began = time.perf_counter()
    benches = all_benchmarks(plan, tasks)
    todo, skipped = cells(benches, ALL if args.candidates else METHODS)
    for line in skipped:
        print(f"skipped: {line}")
    jobs = [
        (bench.name, plan, tasks, ALL.index(method), seed)
        for bench, method in todo
        for seed in range(plan.seeds)
    ]
    print(f"{len(jobs)} searches: {len(todo)} cells × {plan.seeds} seeds", flush=True)
    runs: dict[str, dict[str, list[SearchRun]]] = {}
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs) as pool:
        for count, run in enumerate(pool.imap(_job, jobs, chunksize=4), 1):
            runs.setdefault(run.bench, {}).setdefault(run.method, []).append(run)
            if count % 200 == 0 or count == len(jobs):
                print(f"[{count}/{len(jobs)} {time.perf_counter() - began:.0f}s]", flush=True)
    stats = [task_stats(name, plan.data) for name in tasks]
    markdown = report(benches, runs, skipped, stats, plan, command, time.perf_counter() - began)
    path = write_result(RESULTS_FILE, markdown, args.out)
    plot(benches, runs).savefig(path.parent / PLOT_FILE, dpi=90)
    print("\n" + markdown)
    print(f"Written to {path} and {path.parent / PLOT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
