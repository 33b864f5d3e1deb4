"""Search-quality benchmark: which searcher finds a good model in fewer trials and seconds, and
how many epochs ASHA saves.

The task separates searchers where digits with the whole training set cannot (every method
reaches 99 % there): an MLP trained for 4 epochs on 200 of scikit-learn's digits, validated on the
other 1,597 images. Its configurations range from chance (10 %) to above 90 %. Two spaces over it,
both resolved by raytune-hp's tables (``load_config(...).search_space()``):

- ``mlp-4``: four tuned hyperparameters (lr, batch_size, hidden_size, dropout; optimizer fixed
  to SGD with momentum, one layer, no weight decay), so that grid search runs too;
- ``mlp-7``: the tables' MLP space: the optimizer and its own lr range, batch size, width
  (64 to 256), depth (1 or 2), dropout, weight decay.

Searchers, one trial at a time, the same budget each, on every seed:

1. ``raytune-hp bayes``: the HyperOpt TPE searcher ``raytune_hp.search.build_search`` builds for
   an experiment (the tables' starting point first, a sixth of the budget random), driven
   through Ray Tune's ``Searcher`` interface (``suggest`` / ``on_trial_complete``) exactly as Tune
   drives it;
2. ``raytune-hp random``: the same searcher with HyperOpt's random sampling;
3. ``grid``: raytune-hp's grid, 2 points per range (16 trials; ``mlp-4`` only);
4. ``optuna TPE``: Optuna's ``TPESampler`` with its defaults over the same space.

The objective is deterministic: every trial trains with torch seed 0 on the same images, so a
configuration scores the same whichever searcher proposes it; repetition *i* changes only the
searchers' seed. A configuration met again is not retrained: it costs the seconds its first
training took. Regret is the best validation accuracy seen anywhere in the run (any searcher,
any seed) minus a searcher's best so far.

ASHA is measured through raytune-hp itself (``run_experiment``, Ray, two trials at a time): random
search on ``mlp-7`` for 27 epochs, once with ASHA (grace 1, reduction 3) and once without early
stopping, the same seed, so both try the same configurations.

Usage (from the repository root):
    .venv/bin/python benchmarks/search_quality.py --quick   # 10 seeds, 30 trials; ASHA 3 seeds
    .venv/bin/python benchmarks/search_quality.py           # 30 seeds, 50 trials; ASHA 10 seeds
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, header, load_line, suggest_optuna, write_result

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.data import Dataset, load_data, load_npz
from raytune_hp.metrics import VAL_ACC
from raytune_hp.spaces import SearchSpace, flatten, start_point

RESULTS_FILE, PLOT_FILE = "search_quality.md", "search_quality.png"
TRAIN_SAMPLES, EPOCHS, TRIAL_SEED = 200, 4, 0
ASHA_EPOCHS, ASHA_GRACE, ASHA_REDUCTION = 27, 1, 3
BAYES, RANDOM, GRID, OPTUNA = "raytune-hp bayes", "raytune-hp random", "grid", "optuna TPE"
COLORS = {BAYES: "tab:blue", RANDOM: "tab:orange", GRID: "tab:green", OPTUNA: "tab:red"}
# The targets.
MAX_REGRET_VS_RANDOM = 0.7
ASHA_MAX_ACC_LOSS, ASHA_MAX_EPOCHS_SHARE = 0.005, 1 / 3

SPACES = {
    "mlp-4": """
  optimizer: momentum
  num_layers: 1
  weight_decay: 0.0
  batch_size: {low: 16, high: 256}
""",
    "mlp-7": """
  batch_size: {low: 16, high: 256}
  hidden_size: {low: 64, high: 256}
  num_layers: {low: 1, high: 2}
""",
}


@dataclass(frozen=True)
class Budget:
    seeds: int
    trials: int
    asha_seeds: int
    asha_trials: int


@dataclass
class Search:
    """One searcher's run on one space and seed: every trial's accuracy and when it ended."""

    space: str
    method: str
    seed: int
    accuracies: list[float] = field(default_factory=list)
    ended_s: list[float] = field(default_factory=list)
    searcher_s: float = 0.0

    def best_so_far(self, trials: int) -> float:
        return max(self.accuracies[:trials], default=0.0)


def config_text(space: str, data_path: Path, epochs: int, extra: str = "") -> str:
    return f"""
name: search-quality
seed: 0
data: {{name: npz, path: {data_path}}}
model: {{name: mlp}}
train: {{max_epochs: {epochs}, metric: val_acc}}
space:{SPACES[space]}
{extra}
"""


def write_task_data(folder: Path) -> Path:
    """200 training images of digits; every other image validates (a steadier metric than 360)."""
    digits = load_data("digits", 0.2, seed=0)
    order = np.random.default_rng(0).permutation(len(digits.x_train))
    train, rest = order[:TRAIN_SAMPLES], order[TRAIN_SAMPLES:]
    path = folder / "digits200.npz"
    np.savez(
        path,
        x_train=digits.x_train[train].numpy(),
        y_train=digits.y_train[train].numpy(),
        x_val=np.concatenate([digits.x_train[rest].numpy(), digits.x_val.numpy()]),
        y_val=np.concatenate([digits.y_train[rest].numpy(), digits.y_val.numpy()]),
    )
    return path


class Objective:
    """Trains a configuration with raytune-hp's own loop and returns its final ``val_acc``;
    remembers every configuration's accuracy and training seconds."""

    def __init__(self, data: Dataset, log_dir: Path) -> None:
        from raytune_hp.trainable import TrialSettings

        self.data, self.log_dir = data, log_dir
        self.settings = TrialSettings("mlp", EPOCHS, TRIAL_SEED, cpu_threads=1)
        self.cache: dict[str, tuple[float, float]] = {}

    def warm_up(self, hp: dict[str, Any]) -> None:
        """Trains ``hp`` once, uncached and untimed: torch's first-call costs are nobody's."""
        from raytune_hp.trainable import train

        train(flatten(hp), self.data, self.settings, self.log_dir, lambda m, _: None)

    def __call__(self, hp: dict[str, Any]) -> tuple[float, float]:
        """``(val_acc, seconds)`` of ``hp`` (flat or HyperOpt-nested)."""
        from raytune_hp.trainable import train

        flat = flatten(hp)
        key = json.dumps(flat, sort_keys=True, default=str)
        if key not in self.cache:
            final: list[float] = []
            start = time.perf_counter()
            train(
                flat, self.data, self.settings, self.log_dir, lambda m, _: final.append(m[VAL_ACC])
            )
            self.cache[key] = (final[-1], time.perf_counter() - start)
        return self.cache[key]


def drive(
    run: Search,
    trials: int,
    ask: Callable[[int], tuple[Any, dict[str, Any]] | None],
    tell: Callable[[Any, float], None],
    objective: Objective,
) -> Search:
    """Trial after trial: ``ask(number)`` proposes ``(token, hp)`` (``None``: the searcher is
    done), the objective scores it, ``tell(token, accuracy)`` hands the score back. The clock
    adds the searcher's own seconds to each configuration's training seconds."""
    clock = 0.0
    for number in range(trials):
        started = time.perf_counter()
        proposal = ask(number)
        if proposal is None:
            break
        token, hp = proposal
        thinking = time.perf_counter() - started
        accuracy, seconds = objective(hp)
        started = time.perf_counter()
        tell(token, accuracy)
        thinking += time.perf_counter() - started
        clock += thinking + seconds
        run.searcher_s += thinking
        run.accuracies.append(accuracy)
        run.ended_s.append(clock)
    return run


def run_tune_searcher(
    method: str, config: ExperimentConfig, space: SearchSpace, trials: int, objective: Objective
) -> Search:
    """raytune-hp's searcher for ``method``, driven trial by trial through Tune's interface."""
    from ray.tune.search import Searcher

    from raytune_hp.search import build_search

    strategy = {BAYES: "bayes", RANDOM: "random", GRID: "grid"}[method]
    searcher = build_search(config, space, 1, strategy, trials).searcher

    def ask(number: int) -> tuple[str, dict[str, Any]] | None:
        suggestion = searcher.suggest(str(number))
        if suggestion is None or suggestion == Searcher.FINISHED:  # a grid smaller than the budget
            return None
        return str(number), suggestion

    def tell(trial_id: str, accuracy: float) -> None:
        searcher.on_trial_complete(trial_id, {VAL_ACC: accuracy})

    return drive(Search(config.name, method, config.seed), trials, ask, tell, objective)


def run_optuna(
    config: ExperimentConfig, space: SearchSpace, trials: int, objective: Objective
) -> Search:
    """Optuna's TPE sampler with its defaults, asked and told trial by trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )

    def ask(number: int) -> tuple[Any, dict[str, Any]]:
        trial = study.ask()
        return trial, suggest_optuna(trial, space)

    return drive(Search(config.name, OPTUNA, config.seed), trials, ask, study.tell, objective)


@dataclass(frozen=True)
class EarlyStopping:
    """One ``run_experiment`` of the ASHA comparison."""

    seed: int
    asha: bool
    wall_s: float
    epochs: int
    trials: int
    best: float


def run_early_stopping(
    data_path: Path, seed: int, asha: bool, trials: int, storage: Path
) -> EarlyStopping:
    from raytune_hp.experiment import run_experiment

    stopping = (
        f"{{name: asha, grace_period: {ASHA_GRACE}, reduction_factor: {ASHA_REDUCTION}}}"
        if asha
        else "{name: none}"
    )
    extra = f"search: {{strategy: random, num_samples: {trials}}}\nearly_stopping: {stopping}"
    name = f"{'asha' if asha else 'none'}-{seed}"
    config = load_config(
        f"{name}.yaml",
        overrides=[f"name={name}", f"seed={seed}", f"storage={storage}"],
        text=config_text("mlp-7", data_path, ASHA_EPOCHS, extra),
    )
    start = time.perf_counter()
    outcome = run_experiment(config)
    wall = time.perf_counter() - start
    best = max((t.best for t in outcome.trials if t.best is not None), default=0.0)
    epochs = sum(t.epochs for t in outcome.trials)
    return EarlyStopping(seed, asha, wall, epochs, len(outcome.trials), best)


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def stderr(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def methods_of(space: str) -> list[str]:
    return [BAYES, RANDOM, GRID, OPTUNA] if space == "mlp-4" else [BAYES, RANDOM, OPTUNA]


def regret_curve(
    runs: list[Search], reference: float, trials: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over seeds of the regret after 1..trials trials."""
    curves = np.array([[reference - r.best_so_far(n) for n in range(1, trials + 1)] for r in runs])
    spread = curves.std(axis=0, ddof=1) / math.sqrt(len(runs)) if len(runs) > 1 else 0 * curves[0]
    return curves.mean(axis=0), spread


def regret_at_seconds(run: Search, reference: float, seconds: np.ndarray) -> np.ndarray:
    """A run's regret at each time; before its first trial ends, the regret of knowing nothing."""
    done = np.searchsorted(np.array(run.ended_s), seconds, side="right")
    return np.array([reference - run.best_so_far(n) if n else reference for n in done])


def plot(searches: list[Search], references: dict[str, float], trials: int) -> Any:
    from matplotlib.figure import Figure

    spaces = list(references)
    figure = Figure(figsize=(11, 4.2 * len(spaces)), layout="constrained")
    axes = figure.subplots(len(spaces), 2, squeeze=False)
    for row, space in enumerate(spaces):
        by_trials, by_time = axes[row]
        horizon = max(r.ended_s[-1] for r in searches if r.space == space)
        seconds = np.linspace(0, horizon, 200)
        for method in methods_of(space):
            runs = [r for r in searches if r.space == space and r.method == method]
            length = min(len(r.accuracies) for r in runs)
            average, spread = regret_curve(runs, references[space], length)
            x = np.arange(1, length + 1)
            color = COLORS[method]
            by_trials.plot(x, average, label=method, lw=1.8, color=color)
            by_trials.fill_between(x, average - spread, average + spread, alpha=0.2, color=color)
            timed = np.array([regret_at_seconds(r, references[space], seconds) for r in runs])
            by_time.plot(seconds, timed.mean(axis=0), label=method, lw=1.8, color=color)
        for ax, xlabel in ((by_trials, "trials"), (by_time, "seconds (searcher + training)")):
            ax.set(xlabel=xlabel, ylabel="mean regret (accuracy)", yscale="log")
            ax.grid(alpha=0.3)
        by_trials.set_title(f"{space}: regret against trials (± standard error)")
        by_time.set_title(f"{space}: regret against wall time")
        by_trials.legend(fontsize=8)
    return figure


def report_markdown(
    searches: list[Search],
    stops: list[EarlyStopping],
    references: dict[str, float],
    budget: Budget,
    command: str,
    runtime_s: float,
) -> str:
    lines = [
        *header(
            "Search-quality benchmark: raytune-hp's searchers, grid and Optuna TPE",
            command,
            mode=(
                "quick (`--quick`, what `make bench` runs): 10 seeds of 30 trials, ASHA 3 seeds "
                "of 20 trials; the full mode runs 30 seeds of 50, ASHA 10 of 30"
                if "--quick" in command
                else None
            ),
        ),
        load_line(),
        f"- Seeds: 0–{budget.seeds - 1} (each changes the searchers' seed only); {budget.trials} "
        "trials per searcher and seed, one at a time",
        f"- Task: an MLP (raytune-hp's `mlp`) on {TRAIN_SAMPLES} digits training images, "
        f"{EPOCHS} epochs, validated on the other 1,597; every trial trains with torch seed "
        f"{TRIAL_SEED}, so the objective is deterministic; a configuration met twice is trained "
        "once and costs its first training's seconds again",
        "- Spaces: `mlp-4` = lr, batch_size [16, 256], hidden_size, dropout (optimizer momentum, "
        "one layer, weight decay 0); `mlp-7` = the tables' MLP space (optimizer with its own lr "
        "range, batch_size [16, 256], hidden_size [64, 256], num_layers [1, 2], dropout, "
        "weight_decay)",
        "- Regret: the best val_acc any searcher reached on that space in this run minus a "
        "searcher's best so far (final-epoch val_acc, what the searchers are told)",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        f"![regret curves]({PLOT_FILE})",
        "",
    ]
    checks: list[tuple[str, bool, str]] = []
    marks = [n for n in (5, 10, 20, 30, 50) if n <= budget.trials]
    for space, reference in references.items():
        lines += [
            f"## {space} (best val_acc seen: {reference:.4f})",
            "",
            "| searcher | "
            + " | ".join(f"regret @{n}" for n in marks)
            + " | best val_acc | trials | seconds | searcher s |",
            "|---|" + "---|" * (len(marks) + 4),
        ]
        regrets: dict[str, float] = {}
        errors: dict[str, float] = {}
        for method in methods_of(space):
            runs = [r for r in searches if r.space == space and r.method == method]
            cells = []
            for n in marks:
                values = [reference - r.best_so_far(n) for r in runs]
                cells.append(f"{mean(values):.4f} ± {stderr(values):.4f}")
            final = [reference - r.best_so_far(budget.trials) for r in runs]
            regrets[method], errors[method] = mean(final), stderr(final)
            lines.append(
                f"| {method} | "
                + " | ".join(cells)
                + f" | {mean([r.best_so_far(budget.trials) for r in runs]):.4f}"
                + f" | {mean([len(r.accuracies) for r in runs]):g}"
                + f" | {mean([r.ended_s[-1] for r in runs]):.1f}"
                + f" | {mean([r.searcher_s for r in runs]):.2f} |"
            )
        lines.append("")
        if GRID in regrets:
            points = max(len(r.accuracies) for r in searches if r.method == GRID)
            lines += [
                f"Grid stops at its {points} points: its regret columns past that repeat its "
                "final value.",
                "",
            ]
        ratio = regrets[BAYES] / regrets[RANDOM] if regrets[RANDOM] > 0 else math.inf
        checks.append(
            (
                f"{space}: bayes regret ≤ {MAX_REGRET_VS_RANDOM}× random's at "
                f"{budget.trials} trials",
                ratio <= MAX_REGRET_VS_RANDOM,
                f"{regrets[BAYES]:.4f} vs {regrets[RANDOM]:.4f} ({ratio:.2f}×)",
            )
        )
        checks.append(
            (
                f"{space}: bayes at least Optuna TPE's quality",
                regrets[BAYES] <= regrets[OPTUNA],
                f"regret {regrets[BAYES]:.4f} ± {errors[BAYES]:.4f} vs "
                f"{regrets[OPTUNA]:.4f} ± {errors[OPTUNA]:.4f} (mean ± standard error)",
            )
        )
    with_asha = [s for s in stops if s.asha]
    without = [s for s in stops if not s.asha]
    acc_loss = mean([n.best - a.best for a, n in zip(with_asha, without, strict=True)])
    share = mean([a.epochs / n.epochs for a, n in zip(with_asha, without, strict=True)])
    lines += [
        "## ASHA against no early stopping",
        "",
        f"raytune-hp `run_experiment` (Ray, 2 trials at a time) on `mlp-7`, random search, "
        f"{budget.asha_trials} trials of up to {ASHA_EPOCHS} epochs, seeds "
        f"0–{budget.asha_seeds - 1}; ASHA grace {ASHA_GRACE}, reduction {ASHA_REDUCTION}. The "
        "same seed gives both runs the same configurations. Best: the best epoch's val_acc of "
        "any trial.",
        "",
        "| early stopping | seed | epochs | best val_acc | wall s |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {'ASHA' if s.asha else 'none'} | {s.seed} | {s.epochs} | {s.best:.4f} "
        f"| {s.wall_s:.1f} |"
        for s in sorted(stops, key=lambda s: (s.seed, not s.asha))
    ]
    lines += [
        "",
        f"Mean over seeds: ASHA trained {share:.2f}× the epochs of no early stopping "
        f"({mean([s.epochs for s in with_asha]):.0f} vs {mean([s.epochs for s in without]):.0f}), "
        f"best val_acc {mean([s.best for s in with_asha]):.4f} vs "
        f"{mean([s.best for s in without]):.4f}; wall {mean([s.wall_s for s in with_asha]):.1f} s "
        f"vs {mean([s.wall_s for s in without]):.1f} s.",
        "",
    ]
    checks.append(
        (
            f"ASHA within {ASHA_MAX_ACC_LOSS * 100:.1f} points of no early stopping's best with "
            f"≤ 1/3 of its epochs",
            acc_loss <= ASHA_MAX_ACC_LOSS and share <= ASHA_MAX_EPOCHS_SHARE,
            f"{acc_loss * 100:+.2f} points lost (mean), {share:.2f}× the epochs",
        )
    )
    lines += ["## Targets", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if met else '**no**'} | {why} |" for name, met, why in checks]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 seeds, 30 trials; ASHA 3 seeds")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    budget = Budget(10, 30, 3, 20) if args.quick else Budget(30, 50, 10, 30)
    if args.smoke:
        budget = Budget(2, 6, 1, 4)
    command = " ".join([".venv/bin/python", "benchmarks/search_quality.py", *sys.argv[1:]])
    began = time.perf_counter()
    searches: list[Search] = []
    with tempfile.TemporaryDirectory(prefix="search-quality-") as folder:
        data_path = write_task_data(Path(folder))
        objective = Objective(load_npz(data_path), Path(folder) / "events")
        warm = load_config("warm.yaml", text=config_text("mlp-4", data_path, EPOCHS))
        objective.warm_up(start_point(warm.search_space()))
        for space in SPACES:
            for seed in range(budget.seeds):
                config = load_config(
                    f"{space}.yaml",
                    overrides=[f"name={space}", f"seed={seed}", "search.grid_points=2"],
                    text=config_text(space, data_path, EPOCHS),
                )
                resolved = config.search_space()
                for method in methods_of(space):
                    if method == OPTUNA:
                        run = run_optuna(config, resolved, budget.trials, objective)
                    else:
                        run = run_tune_searcher(method, config, resolved, budget.trials, objective)
                    searches.append(run)
                    print(
                        f"{space} seed {seed} {method}: best {max(run.accuracies):.4f} after "
                        f"{len(run.accuracies)} trials, {run.ended_s[-1]:.1f} s"
                    )
        references = {s: max(max(r.accuracies) for r in searches if r.space == s) for s in SPACES}

        _start_ray()
        stops = []
        for seed in range(budget.asha_seeds):
            for asha in (True, False):
                stop = run_early_stopping(
                    data_path, seed, asha, budget.asha_trials, Path(folder) / "experiments"
                )
                print(f"ASHA={asha} seed {seed}: {stop.epochs} epochs, best {stop.best:.4f}")
                stops.append(stop)

    markdown = report_markdown(
        searches, stops, references, budget, command, time.perf_counter() - began
    )
    path = write_result(RESULTS_FILE, markdown)
    figure = plot(searches, references, budget.trials)
    figure.savefig(path.parent / PLOT_FILE, dpi=110)
    print("\n" + markdown)
    print(f"Written to {path.relative_to(ROOT)} and {PLOT_FILE}")
    return 0


def _start_ray() -> None:
    import ray

    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)


if __name__ == "__main__":
    sys.exit(main())
