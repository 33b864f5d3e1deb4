"""Overhead benchmark: raytune-hp against Ray Tune's defaults and Optuna on the quickstart CNN.

Three tuners get the same model (the digits CNN of ``configs/quickstart.yaml``), the same
resolved search space (``load_config(...).search_space()``), the same number of trials and the
same epoch budget per trial, and run alternately within one invocation (raytune-hp, Ray Tune,
Optuna for repetition 1, then again for repetition 2, ...), each repetition with its own seed:

1. ``raytune-hp``: :func:`raytune_hp.experiment.run_experiment` as shipped (HyperOpt TPE + ASHA,
   actors reused, reports and plots written at the end), storage in a temporary folder.
2. ``ray-tune-defaults``: ``tune.Tuner`` over ``to_tune(space)`` with Tune's defaults (random
   search through ``BasicVariantGenerator``, FIFO, Tune's default ``reuse_actors``, its default
   loggers and checkpoint settings) around the same trainable, one CPU per trial.
3. ``optuna``: TPE sampler + MedianPruner in this process, ``n_jobs=2`` threads, each trial
   training with :func:`raytune_hp.trainable.train` on one torch thread and pruned on each
   epoch's report.

Ray is started once for the whole script, before any timing, and shared by both Ray-based
tuners; every library the driver or Optuna uses is imported before any timing too. Wall time is
measured around the tuner's whole run. Training seconds are the time between consecutive epoch
reports inside the training function (Ray's ``time_this_iter_s``;
the same measured by hand for Optuna); scheduling efficiency is training seconds divided by
wall seconds times parallel slots. Results go to ``benchmarks/results/overhead.md``.

Usage (from the repository root):
    .venv/bin/python benchmarks/overhead.py --quick        # 12 trials, 8 epochs, 2 repetitions
    .venv/bin/python benchmarks/overhead.py                # 24 trials, 18 epochs, 3 repetitions
    .venv/bin/python benchmarks/overhead.py --repeats 5    # any mode, another repetition count
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, header, suggest_optuna, write_result

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.metrics import EPOCH, SKIPPED, VAL_ACC
from raytune_hp.spaces import SearchSpace

CONFIG = ROOT / "configs" / "quickstart.yaml"
RESULTS_FILE = "overhead.md"
RAYTUNE_HP, RAY_DEFAULTS, OPTUNA = "raytune-hp", "ray-tune-defaults", "optuna"
TUNERS = (RAYTUNE_HP, RAY_DEFAULTS, OPTUNA)
# Two threads on two cores: the same two parallel slots of one CPU each as the Ray tuners get.
OPTUNA_JOBS = 2
# The targets for raytune-hp.
MAX_WALL_VS_OPTUNA = 1.0
MAX_WALL_VS_RAY_DEFAULTS = 0.5
MIN_EFFICIENCY = 0.8


@dataclass(frozen=True)
class Budget:
    """What every tuner gets: trials, epochs per trial; and how often the comparison repeats."""

    trials: int
    epochs: int
    repeats: int


@dataclass(frozen=True)
class Epoch:
    """One epoch a trial reported."""

    trial: str
    epoch: int
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class Run:
    """One tuner's run of one repetition."""

    tuner: str
    seed: int
    wall_s: float
    slots: int
    epochs: list[Epoch]
    max_epochs: int
    reports_s: float | None = None

    @property
    def trials(self) -> int:
        return len({e.trial for e in self.epochs})

    @property
    def full_trials(self) -> int:
        return len({e.trial for e in self.epochs if e.epoch >= self.max_epochs})

    @property
    def best_acc(self) -> float:
        return max((e.val_acc for e in self.epochs), default=0.0)

    @property
    def train_s(self) -> float:
        return sum(e.seconds for e in self.epochs)

    @property
    def efficiency(self) -> float:
        return self.train_s / (self.wall_s * self.slots)


def experiment_config(budget: Budget, seed: int, storage: Path, name: str) -> ExperimentConfig:
    """The quickstart config with this benchmark's budget, seed and a temporary storage."""
    return load_config(
        CONFIG,
        overrides=[
            f"name={name}",
            f"seed={seed}",
            f"storage={storage}",
            f"train.max_epochs={budget.epochs}",
            f"search.num_samples={budget.trials}",
        ],
    )


def ray_epochs(folder: Path) -> list[Epoch]:
    """Every epoch reported in a Ray Tune experiment folder, from the trials' ``result.json``."""
    epochs = []
    for path in sorted(folder.rglob("result.json")):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            if result.get(SKIPPED):
                continue
            epochs.append(
                Epoch(
                    result["trial_id"],
                    int(result[EPOCH]),
                    float(result[VAL_ACC]),
                    float(result["time_this_iter_s"]),
                )
            )
    return epochs


def ray_slots() -> int:
    import ray

    return int(ray.cluster_resources().get("CPU", 1))  # one CPU per trial


def run_raytune_hp(budget: Budget, seed: int, storage: Path) -> Run:
    """raytune-hp as shipped: ``run_experiment`` on the quickstart config."""
    from raytune_hp.experiment import experiment_store, run_experiment
    from raytune_hp.report import write_reports

    config = experiment_config(budget, seed, storage, RAYTUNE_HP)
    environment = dict(os.environ)
    start = time.perf_counter()
    run_experiment(config)
    wall = time.perf_counter() - start
    # run_experiment sets Tune's environment for its own output and loggers: the Ray-defaults
    # tuner must run with Tune's own.
    os.environ.clear()
    os.environ.update(environment)
    # How much of the wall time the final reports (summary, plots, importance) take: timed again,
    # outside the wall time, since run_experiment does not say.
    start = time.perf_counter()
    write_reports(experiment_store(config), config)
    reports = time.perf_counter() - start
    epochs = ray_epochs(storage / RAYTUNE_HP)
    return Run(RAYTUNE_HP, seed, wall, ray_slots(), epochs, budget.epochs, reports)


def run_ray_defaults(budget: Budget, seed: int, storage: Path, space: SearchSpace) -> Run:
    """``tune.Tuner`` with Tune's defaults around the same trainable and space."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from raytune_hp.data import load_data
    from raytune_hp.spaces import to_tune
    from raytune_hp.trainable import TrialSettings, tune_trainable

    config = experiment_config(budget, seed, storage, RAY_DEFAULTS)
    data = load_data(config.data.name, config.data.val_fraction, seed)
    settings = TrialSettings(config.model.name, budget.epochs, seed)
    trainable = tune.with_parameters(
        tune.with_resources(tune_trainable, {"cpu": 1}), data=data, settings=settings
    )
    tuner = tune.Tuner(
        trainable,
        param_space=to_tune(space),
        tune_config=tune.TuneConfig(
            # Tune's default searcher, given the repetition's seed; FIFO and reuse_actors as
            # Tune defaults them.
            search_alg=BasicVariantGenerator(random_state=seed),
            num_samples=budget.trials,
        ),
        # verbose=1 only shortens the console output; it changes nothing Tune does.
        run_config=tune.RunConfig(name=RAY_DEFAULTS, storage_path=str(storage), verbose=1),
    )
    start = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - start
    epochs = ray_epochs(storage / RAY_DEFAULTS)
    return Run(RAY_DEFAULTS, seed, wall, ray_slots(), epochs, budget.epochs)


def run_optuna(budget: Budget, seed: int, storage: Path, space: SearchSpace) -> Run:
    """Optuna's TPE + MedianPruner in this process, training with raytune-hp's ``train``."""
    import optuna

    from raytune_hp.data import load_data
    from raytune_hp.trainable import TrialSettings, train

    config = experiment_config(budget, seed, storage, OPTUNA)
    data = load_data(config.data.name, config.data.val_fraction, seed)
    settings = TrialSettings(config.model.name, budget.epochs, seed, cpu_threads=1)
    epochs: list[Epoch] = []
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        hp = suggest_optuna(trial, space)
        best = 0.0
        last = time.perf_counter()

        def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
            nonlocal best, last
            now = time.perf_counter()
            with lock:
                seconds = now - last
                epochs.append(Epoch(str(trial.number), metrics[EPOCH], metrics[VAL_ACC], seconds))
            last = now
            best = max(best, metrics[VAL_ACC])
            trial.report(metrics[VAL_ACC], metrics[EPOCH])
            if trial.should_prune():
                raise optuna.TrialPruned()

        train(hp, data, settings, storage / OPTUNA / f"trial_{trial.number}", report)
        return best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    start = time.perf_counter()
    study.optimize(objective, n_trials=budget.trials, n_jobs=OPTUNA_JOBS)
    wall = time.perf_counter() - start
    return Run(OPTUNA, seed, wall, OPTUNA_JOBS, epochs, budget.epochs)


def start_ray() -> None:
    """Ray once for the whole script, as raytune-hp starts it for a local run."""
    import ray

    ray.init(
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=True,
    )


def import_everything() -> None:
    """Every library any tuner uses, imported before the first timing: Optuna's imports and
    the driver's (HyperOpt, TensorBoard, matplotlib, scikit-learn) then cost no tuner its first
    repetition. The trial processes Ray starts import torch and Ray Tune themselves, inside the
    timed run: that is part of what raytune-hp and Ray Tune cost."""
    import importlib

    for module in (
        "optuna",
        "ray.tune",
        "raytune_hp.experiment",
        "raytune_hp.search",
        "raytune_hp.tb_logger",
        "raytune_hp.trainable",
        "sklearn.ensemble",
        "matplotlib.figure",
    ):
        importlib.import_module(module)


def median(runs: list[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(run) for run in runs)


def report_markdown(runs: list[Run], budget: Budget, command: str, runtime_s: float) -> str:
    """The results as Markdown: setup, one row per tuner (medians), ratios, targets."""
    by_tuner = {t: [r for r in runs if r.tuner == t] for t in TUNERS}
    seeds = sorted({r.seed for r in runs})
    lines = [
        *header("Overhead benchmark: raytune-hp vs Ray Tune defaults vs Optuna", command),
        f"- Budget per tuner and repetition: {budget.trials} trials, up to {budget.epochs} "
        f"epochs each ({budget.trials * budget.epochs} epochs at most); {budget.repeats} "
        f"repetitions, run alternately; seeds {seeds} (repetition i uses seed i for the "
        "searcher/sampler and every trial)",
        "- Task: digits CNN of `configs/quickstart.yaml`, its resolved space "
        "(`load_config(...).search_space()`), metric val_acc",
        "- raytune-hp: `run_experiment`, bayes (HyperOpt TPE) + ASHA as shipped; "
        "ray-tune-defaults: `tune.Tuner`, BasicVariantGenerator random search, FIFO, "
        "Tune's default reuse_actors, "
        "1 CPU per trial; both on one Ray instance started once for the whole script (not timed; "
        "the libraries every tuner's driver uses imported before timing, too). "
        f"optuna: TPESampler + MedianPruner (defaults), n_jobs={OPTUNA_JOBS} threads of one torch "
        "thread each, the same slots as Ray's 2 CPUs",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        "Medians over repetitions. Training s: the sum over trials of the seconds between "
        "consecutive epoch reports. Efficiency: training s ÷ (wall s × slots). Overhead s: "
        "wall s − training s ÷ slots. Optuna's threads share one interpreter: the seconds a "
        "thread waits for the other's GIL count as its training, so its efficiency is near 1 by "
        "construction; compare seconds per epoch (training s ÷ epochs) for the cost of that.",
        "",
        "| tuner | wall s | trials | full-budget trials | epochs | best val acc | training s "
        "| s per epoch | slots | efficiency | overhead s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tuner, group in by_tuner.items():
        lines.append(
            f"| {tuner} | {median(group, lambda r: r.wall_s):.1f} "
            f"| {median(group, lambda r: r.trials):g} "
            f"| {median(group, lambda r: r.full_trials):g} "
            f"| {median(group, lambda r: len(r.epochs)):g} "
            f"| {median(group, lambda r: r.best_acc):.4f} "
            f"| {median(group, lambda r: r.train_s):.1f} "
            f"| {median(group, lambda r: r.train_s / max(1, len(r.epochs))):.2f} "
            f"| {group[0].slots} "
            f"| {median(group, lambda r: r.efficiency):.2f} "
            f"| {median(group, lambda r: r.wall_s - r.train_s / r.slots):.1f} |"
        )
    ours = by_tuner[RAYTUNE_HP]
    reports = median(ours, lambda r: r.reports_s or 0.0)
    lines += [
        "",
        f"raytune-hp's final reports (summary, plots, importance), timed again after each run: "
        f"median {reports:.1f} s of its wall time.",
        "",
        "| raytune-hp vs | wall ratio | epochs ratio | best-acc difference |",
        "|---|---|---|---|",
    ]
    wall_ratio: dict[str, float] = {}
    acc_diff: dict[str, float] = {}
    for peer in (RAY_DEFAULTS, OPTUNA):
        group = by_tuner[peer]
        wall_ratio[peer] = median(ours, lambda r: r.wall_s) / median(group, lambda r: r.wall_s)
        epochs_ratio = median(ours, lambda r: len(r.epochs)) / median(
            group, lambda r: len(r.epochs)
        )
        acc_diff[peer] = median(ours, lambda r: r.best_acc) - median(group, lambda r: r.best_acc)
        lines.append(
            f"| {peer} | {wall_ratio[peer]:.3f}× | {epochs_ratio:.2f}× | {acc_diff[peer]:+.4f} |"
        )
    efficiency = median(ours, lambda r: r.efficiency)
    overhead = {t: median(g, lambda r: r.wall_s - r.train_s / r.slots) for t, g in by_tuner.items()}
    checks = [
        (
            f"wall ≤ {MAX_WALL_VS_OPTUNA}× Optuna's",
            wall_ratio[OPTUNA] <= MAX_WALL_VS_OPTUNA,
            f"{wall_ratio[OPTUNA]:.3f}×; time outside training: raytune-hp "
            f"{overhead[RAYTUNE_HP]:.0f} s (reports {reports:.0f} s) vs Optuna "
            f"{overhead[OPTUNA]:.0f} s",
        ),
        (
            f"wall ≤ {MAX_WALL_VS_RAY_DEFAULTS}× Ray Tune defaults'",
            wall_ratio[RAY_DEFAULTS] <= MAX_WALL_VS_RAY_DEFAULTS,
            f"{wall_ratio[RAY_DEFAULTS]:.3f}×; time outside training: raytune-hp "
            f"{overhead[RAYTUNE_HP]:.0f} s vs Ray defaults {overhead[RAY_DEFAULTS]:.0f} s",
        ),
        (
            "best accuracy ≥ every peer's",
            min(acc_diff.values()) >= 0,
            ", ".join(f"{acc_diff[p]:+.4f} vs {p}" for p in acc_diff),
        ),
        (
            f"scheduling efficiency ≥ {MIN_EFFICIENCY}",
            efficiency >= MIN_EFFICIENCY,
            f"{efficiency:.2f}; {overhead[RAYTUNE_HP]:.0f} s of wall time outside training: "
            f"{reports:.1f} s of final reports, the rest mostly the start of the trial processes "
            "(each imports torch and Ray Tune) and the last trial's tail",
        ),
    ]
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if met else '**no**'} | {why} |" for name, met, why in checks]
    lines += ["", "## Every run", "", "| tuner | seed | wall s | trials | epochs | best val acc "]
    lines[-1] += "| efficiency |"
    lines.append("|---|---|---|---|---|---|---|")
    lines += [
        f"| {r.tuner} | {r.seed} | {r.wall_s:.1f} | {r.trials} | {len(r.epochs)} "
        f"| {r.best_acc:.4f} | {r.efficiency:.2f} |"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="12 trials, 8 epochs, 2 repetitions (a few minutes)"
    )
    parser.add_argument("--repeats", type=int, help="repetitions (default: 2 quick, 3 full)")
    args = parser.parse_args(argv)
    budget = Budget(12, 8, 2) if args.quick else Budget(24, 18, 3)
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error(f"--repeats must be an integer ≥ 1; got {args.repeats}")
        budget = Budget(budget.trials, budget.epochs, args.repeats)
    command = " ".join([".venv/bin/python", "benchmarks/overhead.py", *sys.argv[1:]])
    space = load_config(CONFIG).search_space()

    began = time.perf_counter()
    start_ray()
    import_everything()
    runs: list[Run] = []
    for seed in range(budget.repeats):
        for tuner in TUNERS:
            with tempfile.TemporaryDirectory(prefix=f"overhead-{tuner}-") as folder:
                storage = Path(folder)
                print(f"\n=== {tuner}, repetition {seed + 1} of {budget.repeats} (seed {seed})")
                if tuner == RAYTUNE_HP:
                    run = run_raytune_hp(budget, seed, storage)
                elif tuner == RAY_DEFAULTS:
                    run = run_ray_defaults(budget, seed, storage, space)
                else:
                    run = run_optuna(budget, seed, storage, space)
            print(
                f"=== {tuner}: {run.wall_s:.1f} s, {run.trials} trials, {len(run.epochs)} "
                f"epochs, best val_acc {run.best_acc:.4f}, efficiency {run.efficiency:.2f}"
            )
            runs.append(run)

    markdown = report_markdown(runs, budget, command, time.perf_counter() - began)
    path = write_result(RESULTS_FILE, markdown)
    print("\n" + markdown)
    print(f"Written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
