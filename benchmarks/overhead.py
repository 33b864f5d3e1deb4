"""Overhead benchmark: raytune-hp against expert-configured Ray Tune and Optuna, like for like.

Three tuners get the same model (the digits CNN of ``configs/quickstart.yaml``), the same
resolved search space (``load_config(...).search_space()``), the same number of trials, the same
epoch budget per trial, the same early stopping (ASHA's rungs: grace period 2, reduction factor 3)
and the same two parallel slots of one CPU, and run alternately within one invocation
(raytune-hp, Ray Tune, Optuna for repetition 1, then again for repetition 2, ...), repetition *i*
with seed *i* for every tuner:

1. ``raytune-hp``: :func:`raytune_hp.experiment.run_experiment` as shipped (HyperOpt TPE behind
   a ``ConcurrencyLimiter`` + ASHA, actors reused, reports and plots written at the end).
2. ``ray-tune-expert``: ``tune.Tuner`` as a Ray Tune expert sets it up: the same searcher object
   raytune-hp builds (:func:`raytune_hp.search.build_search`: HyperOpt TPE, its start-up trials,
   seed and start point, behind a ``ConcurrencyLimiter`` of 2), Ray's own ``ASHAScheduler`` with
   raytune-hp's settings, ``reuse_actors=True``, the same trainable and resources, two
   checkpoints kept, artifacts synced; Tune's default loggers, ``verbose=1``.
3. ``optuna``: ``TPESampler`` (the same number of random start-up trials) +
   ``SuccessiveHalvingPruner`` with ASHA's rungs (min resource 2, reduction factor 3: the same
   rungs, and like ASHA asynchronous), ``n_jobs=2`` threads, each trial training with
   :func:`raytune_hp.trainable.train` on one torch thread and saving its state every epoch as the
   Ray trainable does.

Ray is started once for the whole script, before any timing (its start is timed apart), and
shared by both Ray-based tuners; every library the drivers use is imported before any timing
too. Wall time is measured around the tuner's whole run, loading the data included. Each epoch's
time is when the trial wrote it (its TensorBoard event's wall time; for Optuna, the report's),
which gives the first epoch's delay and the time to reach the target quality. Results go to
``benchmarks/results/overhead.md``.

Usage (from the repository root):
    .venv/bin/python benchmarks/overhead.py --quick        # 8 trials, 8 epochs, 5 repetitions
    .venv/bin/python benchmarks/overhead.py                # 24 trials, 18 epochs, 5 repetitions
    .venv/bin/python benchmarks/overhead.py --repeats 7    # any mode, another repetition count
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import ROOT, header, mean_se, suggest_optuna, write_result

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.metrics import EPOCH, SKIPPED, VAL_ACC

CONFIG = ROOT / "configs" / "quickstart.yaml"
RESULTS_FILE = "overhead.md"
RAYTUNE_HP, RAY_EXPERT, OPTUNA = "raytune-hp", "ray-tune-expert", "optuna"
TUNERS = (RAYTUNE_HP, RAY_EXPERT, OPTUNA)
PEERS = (RAY_EXPERT, OPTUNA)
# Two threads on two cores: the same two parallel slots of one CPU each as the Ray tuners get.
OPTUNA_JOBS = 2
# The target quality of a repetition: within this much (0.5 accuracy points) of the best
# validation accuracy any tuner found in it.
TARGET_GAP = 0.005
# The target: raytune-hp's wall time at most this fraction of each peer's.
MAX_WALL_RATIO = 0.8


@dataclass(frozen=True)
class Budget:
    """What every tuner gets: trials, epochs per trial; and how often the comparison repeats."""

    trials: int
    epochs: int
    repeats: int


@dataclass(frozen=True)
class Epoch:
    """One epoch a trial reported: its score, its training seconds (since the trial's previous
    report, or its start) and when it was written, in seconds from the tuner's start."""

    trial: str
    epoch: int
    val_acc: float
    seconds: float
    at: float


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
    def outside_s(self) -> float:
        """Wall seconds not spent training: wall − training seconds ÷ slots."""
        return self.wall_s - self.train_s / self.slots

    @property
    def first_epoch_s(self) -> float:
        return min((e.at for e in self.epochs), default=math.nan)

    def time_to(self, target: float) -> float:
        """Seconds from the start until some trial reported ``target`` or better (NaN: never).

        Example:
            >>> run = Run("t", 0, 9.0, 2, [Epoch("a", 1, 0.90, 1.0, 3.0),
            ...                             Epoch("b", 1, 0.97, 1.0, 5.0)], 1)
            >>> run.time_to(0.95), math.isnan(run.time_to(0.99))
            (5.0, True)
        """
        reached = [e.at for e in self.epochs if e.val_acc >= target]
        return min(reached, default=math.nan)


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


def event_times(folder: Path) -> dict[int, float]:
    """When each epoch's ``val_acc`` was written to TensorBoard in a trial's folder, by epoch."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    times: dict[int, float] = {}
    for path in folder.rglob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            if any(value.tag == VAL_ACC for value in event.summary.value):
                times[int(event.step)] = float(event.wall_time)
    return times


def ray_epochs(folder: Path, started: float) -> list[Epoch]:
    """Every epoch reported in a Ray Tune experiment folder, from the trials' ``result.json``
    and, for when it was written, their TensorBoard events (``started``: the tuner's start, by
    ``time.time()``); where an event is missing, the result's whole-second timestamp."""
    epochs = []
    for path in sorted(folder.rglob("result.json")):
        times = event_times(path.parent)
        for line in path.read_text().splitlines():
            result = json.loads(line)
            if result.get(SKIPPED):
                continue
            epoch = int(result[EPOCH])
            at = times.get(epoch, float(result["timestamp"])) - started
            epochs.append(
                Epoch(
                    result["trial_id"],
                    epoch,
                    float(result[VAL_ACC]),
                    float(result["time_this_iter_s"]),
                    at,
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
    started = time.time()
    start = time.perf_counter()
    run_experiment(config)
    wall = time.perf_counter() - start
    # run_experiment sets Tune's environment for its own output and loggers: the expert's Ray
    # Tune runs with Tune's own.
    os.environ.clear()
    os.environ.update(environment)
    # How much of the wall time the final reports (summary, plots, importance) take: timed again,
    # outside the wall time, since run_experiment does not say.
    start = time.perf_counter()
    write_reports(experiment_store(config), config)
    reports = time.perf_counter() - start
    epochs = ray_epochs(storage / RAYTUNE_HP, started)
    return Run(RAYTUNE_HP, seed, wall, ray_slots(), epochs, budget.epochs, reports)


def run_ray_expert(budget: Budget, seed: int, storage: Path) -> Run:
    """``tune.Tuner`` as an expert configures it, around the same searcher and trainable."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from raytune_hp.early_stopping import asha_settings
    from raytune_hp.experiment import _trainable
    from raytune_hp.search import build_search
    from raytune_hp.user_code import UserCode

    config = experiment_config(budget, seed, storage, RAY_EXPERT)
    space = config.search_space()
    slots = ray_slots()
    started = time.time()
    start = time.perf_counter()
    code = UserCode.of(config)
    data = code.dataset(config)
    # The very trainable raytune-hp hands Tune (train + TensorBoard + a checkpoint per epoch),
    # so that both Ray tuners do the same work per epoch.
    trainable = _trainable(config, code, data, 0.0)
    grace, factor = asha_settings(config)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=build_search(config, space, slots).searcher,
            scheduler=ASHAScheduler(
                time_attr=EPOCH,
                metric=config.train.metric,
                mode=config.train.mode,
                max_t=budget.epochs,
                grace_period=grace,
                reduction_factor=factor,
            ),
            num_samples=budget.trials,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=RAY_EXPERT,
            storage_path=str(storage),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            # The trial's TensorBoard events live in its working folder, as with raytune-hp.
            sync_config=tune.SyncConfig(sync_artifacts=True),
            verbose=1,  # one status line: Tune's default table costs the driver time
        ),
    )
    tuner.fit()
    wall = time.perf_counter() - start
    epochs = ray_epochs(storage / RAY_EXPERT, started)
    return Run(RAY_EXPERT, seed, wall, slots, epochs, budget.epochs)


def run_optuna(budget: Budget, seed: int, storage: Path) -> Run:
    """Optuna's TPE + SuccessiveHalvingPruner in this process, training with raytune-hp's
    ``train`` and saving each epoch's state as the Ray trainable does."""
    import optuna

    from raytune_hp.early_stopping import asha_settings
    from raytune_hp.search import initial_points
    from raytune_hp.trainable import TrialSettings, train
    from raytune_hp.trial_state import save_state
    from raytune_hp.user_code import UserCode

    config = experiment_config(budget, seed, storage, OPTUNA)
    space = config.search_space()
    epochs: list[Epoch] = []
    lock = threading.Lock()
    started = time.time()
    start = time.perf_counter()
    data = UserCode.of(config).dataset(config)
    settings = TrialSettings(config.model.name, budget.epochs, seed, cpu_threads=1)

    def objective(trial: optuna.Trial) -> float:
        hp = suggest_optuna(trial, space)
        best = 0.0
        last = time.perf_counter()
        folder = storage / OPTUNA / f"trial_{trial.number}"

        def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
            nonlocal best, last
            with tempfile.TemporaryDirectory() as checkpoint:
                save_state(state, checkpoint)
            now = time.perf_counter()
            with lock:
                epochs.append(
                    Epoch(
                        str(trial.number),
                        metrics[EPOCH],
                        metrics[VAL_ACC],
                        now - last,
                        time.time() - started,
                    )
                )
            last = now
            best = max(best, metrics[VAL_ACC])
            trial.report(metrics[VAL_ACC], metrics[EPOCH])
            if trial.should_prune():
                raise optuna.TrialPruned()

        train(hp, data, settings, folder, report)
        return best

    grace, factor = asha_settings(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=initial_points(budget.trials)
        ),
        pruner=optuna.pruners.SuccessiveHalvingPruner(
            min_resource=int(grace), reduction_factor=int(factor), min_early_stopping_rate=0
        ),
    )
    study.optimize(objective, n_trials=budget.trials, n_jobs=OPTUNA_JOBS)
    wall = time.perf_counter() - start
    return Run(OPTUNA, seed, wall, OPTUNA_JOBS, epochs, budget.epochs)


def start_ray() -> float:
    """Ray once for the whole script, as raytune-hp starts it for a local run; its seconds.

    Ray runs its worker processes 15 steps nicer than itself: on a machine others share that
    starves the Ray tuners' trials against Optuna's, which train in this process. With a
    niceness of 0 all three tuners train at the script's own priority."""
    import ray

    os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 (Ray reads it in this case)
    start = time.perf_counter()
    ray.init(
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=True,
    )
    return time.perf_counter() - start


def import_everything() -> None:
    """Every library any tuner uses, imported before the first timing: Optuna's imports and
    the driver's (HyperOpt, TensorBoard, matplotlib, scikit-learn) then cost no tuner its first
    repetition. The trial processes Ray starts import torch and Ray Tune themselves, inside the
    timed run: that is part of what raytune-hp and Ray Tune cost."""
    import importlib

    for module in (
        "optuna",
        "ray.tune",
        "ray.tune.schedulers",
        "raytune_hp.experiment",
        "raytune_hp.search",
        "raytune_hp.search.hyperopt_search",
        "raytune_hp.tb_logger",
        "raytune_hp.trainable",
        "tensorboard.backend.event_processing.event_file_loader",
        "sklearn.ensemble",
        "matplotlib.figure",
    ):
        importlib.import_module(module)


def targets(runs: list[Run]) -> dict[int, float]:
    """Each repetition's target quality: the best any tuner found in it, less :data:`TARGET_GAP`."""
    best: dict[int, float] = {}
    for run in runs:
        best[run.seed] = max(best.get(run.seed, 0.0), run.best_acc)
    return {seed: value - TARGET_GAP for seed, value in best.items()}


def shown(value: tuple[float, float], digits: int, sign: str = "") -> str:
    """``mean ± se`` with ``digits`` decimals (``sign="+"``: signed); ``–`` for what was never
    measured.

    Example:
        >>> shown((0.0123, 0.004), 3, "+"), shown((math.nan, math.nan), 1)
        ('+0.012 ± 0.004', '–')
    """
    mean, se = value
    if math.isnan(mean):
        return "–"
    first = f"{mean:{sign}.{digits}f}"
    return first if math.isnan(se) else f"{first} ± {se:.{digits}f}"


def report_markdown(
    runs: list[Run], budget: Budget, command: str, runtime_s: float, ray_start_s: float
) -> str:
    """The results as Markdown: setup, one row per tuner (means ± s.e.), ratios, targets."""
    by_tuner = {t: [r for r in runs if r.tuner == t] for t in TUNERS}
    goal = targets(runs)
    seeds = sorted(goal)

    def stat(tuner: str, value: Callable[[Run], float]) -> tuple[float, float]:
        return mean_se([value(r) for r in by_tuner[tuner]])

    def to_target(run: Run) -> float:
        return run.time_to(goal[run.seed])

    lines = [
        *header(
            "Overhead benchmark: raytune-hp vs expert Ray Tune vs Optuna, like for like",
            command,
            mode=(
                "quick (`--quick`, what `make bench` runs): 8 trials × 8 epochs, 5 repetitions; "
                "the full mode runs 24 × 18, 5 repetitions"
                if "--quick" in command
                else None
            ),
        ),
        f"- Budget per tuner and repetition: {budget.trials} trials, up to {budget.epochs} "
        f"epochs each; {budget.repeats} repetitions, the tuners alternated within each; seeds "
        f"{seeds} (repetition i uses seed i for the searcher/sampler and every trial)",
        "- Task: digits CNN of `configs/quickstart.yaml`, its resolved space "
        "(`load_config(...).search_space()`), metric val_acc (360 validation images: one image "
        "is 0.0028)",
        "- Early stopping for all three: ASHA's rungs, grace period 2 epochs, reduction factor "
        "3. Parallelism for all three: 2 slots of one CPU (one torch thread each)",
        "- raytune-hp: `run_experiment` as shipped (HyperOpt TPE behind a ConcurrencyLimiter, "
        "its PersistentASHA, reuse_actors=True, final reports and plots)",
        "- ray-tune-expert: `tune.Tuner` with the same searcher object (`build_search`: "
        "HyperOpt TPE, same start-up trials, seed and start point, ConcurrencyLimiter(2)), Ray's "
        "`ASHAScheduler` with the same settings, reuse_actors=True, the same trainable and "
        "resources, CheckpointConfig(num_to_keep=2), sync_artifacts=True, Tune's default "
        "loggers, verbose=1",
        f"- optuna: TPESampler (seeded, the same number of random start-up trials, no start "
        f"point) + SuccessiveHalvingPruner(min_resource=2, reduction_factor=3), "
        f"n_jobs={OPTUNA_JOBS} threads; each trial trains with `raytune_hp.trainable.train` and "
        "saves its state every epoch, as the Ray trainable does",
        f"- Ray started once before any timing ({ray_start_s:.1f} s, not charged to a tuner), "
        "shared by both Ray tuners, its workers at the script's own priority "
        "(`RAY_worker_niceness=0`; Ray's default +15 starves them on a shared machine against "
        "Optuna's in-process trials); the drivers' libraries imported before timing. Wall time "
        "includes loading the data",
        "- Load average (1, 5, 15 min) at the end: "
        + ", ".join(f"{load:.1f}" for load in os.getloadavg())
        + " (above 2 on 2 cores: others' work shared the machine)",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        f"Mean ± standard error over {budget.repeats} repetitions. Training s: the sum over "
        "trials of the seconds between consecutive epoch reports (each epoch's checkpoint and "
        "TensorBoard events included). Outside training: wall s − training s ÷ slots. First "
        "epoch: seconds from the tuner's start to the first epoch any trial wrote. Time to "
        f"target: seconds until some trial reached the repetition's target, the best val acc any "
        f"tuner found in that repetition less {TARGET_GAP} (0.5 points); its mean is over the "
        "repetitions where the tuner reached it (how many: the column beside it). Optuna's "
        "threads share one interpreter: a thread waiting for the GIL counts that as training, "
        "so compare its seconds per epoch for that cost.",
        "",
        "| tuner | wall s | epochs | full-budget trials | best val acc | s per epoch "
        "| outside training s | first epoch s | time to target s | reached |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tuner in TUNERS:
        reached = sum(not math.isnan(to_target(r)) for r in by_tuner[tuner])
        lines.append(
            f"| {tuner} | {shown(stat(tuner, lambda r: r.wall_s), 1)} "
            f"| {shown(stat(tuner, lambda r: len(r.epochs)), 1)} "
            f"| {shown(stat(tuner, lambda r: r.full_trials), 1)} "
            f"| {shown(stat(tuner, lambda r: r.best_acc), 4)} "
            f"| {shown(stat(tuner, lambda r: r.train_s / max(1, len(r.epochs))), 2)} "
            f"| {shown(stat(tuner, lambda r: r.outside_s), 1)} "
            f"| {shown(stat(tuner, lambda r: r.first_epoch_s), 1)} "
            f"| {shown(stat(tuner, to_target), 1)} "
            f"| {reached} of {len(by_tuner[tuner])} |"
        )
    ours = by_tuner[RAYTUNE_HP]
    reports = stat(RAYTUNE_HP, lambda r: r.reports_s or 0.0)
    lines += [
        "",
        f"raytune-hp's final reports (summary, plots, importance), timed again after each run: "
        f"{shown(reports, 1)} s of its wall time.",
        "",
        "raytune-hp ÷ peer (ratios of the means; best val acc: raytune-hp − peer, paired by "
        "seed, mean ± s.e.):",
        "",
        "| peer | wall | epochs | outside training | first epoch | time to target "
        "| best val acc difference |",
        "|---|---|---|---|---|---|---|",
    ]
    wall_ratio: dict[str, float] = {}
    acc_diff: dict[str, tuple[float, float]] = {}

    def ratio(peer: str, value: Callable[[Run], float]) -> float:
        return stat(RAYTUNE_HP, value)[0] / stat(peer, value)[0]

    for peer in PEERS:
        wall_ratio[peer] = ratio(peer, lambda r: r.wall_s)
        paired = {r.seed: r.best_acc for r in by_tuner[peer]}
        acc_diff[peer] = mean_se([r.best_acc - paired[r.seed] for r in ours if r.seed in paired])
        lines.append(
            f"| {peer} | {wall_ratio[peer]:.2f}× | {ratio(peer, lambda r: len(r.epochs)):.2f}× "
            f"| {ratio(peer, lambda r: r.outside_s):.2f}× "
            f"| {ratio(peer, lambda r: r.first_epoch_s):.2f}× "
            f"| {ratio(peer, to_target):.2f}× | {shown(acc_diff[peer], 4, '+')} |"
        )
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    for peer in PEERS:
        faster = wall_ratio[peer] <= MAX_WALL_RATIO
        level = acc_diff[peer][0] >= 0
        outside = {t: stat(t, lambda r: r.outside_s)[0] for t in (RAYTUNE_HP, peer)}
        per_epoch = {
            t: stat(t, lambda r: r.train_s / max(1, len(r.epochs)))[0] for t in (RAYTUNE_HP, peer)
        }
        lines.append(
            f"| wall ≤ {MAX_WALL_RATIO}× {peer}'s at equal or better quality "
            f"| {'yes' if faster and level else '**no**'} "
            f"| {wall_ratio[peer]:.2f}×, best val acc {shown(acc_diff[peer], 4, '+')}; "
            f"time outside training {outside[RAYTUNE_HP]:.1f} s vs {outside[peer]:.1f} s, "
            f"seconds per epoch {per_epoch[RAYTUNE_HP]:.2f} vs {per_epoch[peer]:.2f}, epochs "
            f"{ratio(peer, lambda r: len(r.epochs)):.2f}× |"
        )
    lines += [
        "",
        "## Every run",
        "",
        "| tuner | seed | target | wall s | trials | epochs | best val acc | outside training s "
        "| first epoch s | time to target s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.tuner} | {r.seed} | {goal[r.seed]:.4f} | {r.wall_s:.1f} | {r.trials} "
        f"| {len(r.epochs)} | {r.best_acc:.4f} | {r.outside_s:.1f} | {r.first_epoch_s:.1f} "
        f"| {shown((to_target(r), math.nan), 1)} |"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


RUNNERS: dict[str, Callable[[Budget, int, Path], Run]] = {
    RAYTUNE_HP: run_raytune_hp,
    RAY_EXPERT: run_ray_expert,
    OPTUNA: run_optuna,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="8 trials, 8 epochs, 5 repetitions (~6 minutes)"
    )
    parser.add_argument("--repeats", type=int, help="repetitions (default: 5)")
    parser.add_argument(
        "--out", type=Path, help="folder for overhead.md (default: benchmarks/results)"
    )
    args = parser.parse_args(argv)
    budget = Budget(8, 8, 5) if args.quick else Budget(24, 18, 5)
    if args.repeats is not None:
        if args.repeats < 2:
            parser.error(f"--repeats must be an integer ≥ 2; got {args.repeats}")
        budget = Budget(budget.trials, budget.epochs, args.repeats)
    command = " ".join([".venv/bin/python", "benchmarks/overhead.py", *sys.argv[1:]])

    began = time.perf_counter()
    ray_start_s = start_ray()
    import_everything()
    runs: list[Run] = []
    for seed in range(budget.repeats):
        for tuner in TUNERS:
            with tempfile.TemporaryDirectory(prefix=f"overhead-{tuner}-") as folder:
                print(f"\n=== {tuner}, repetition {seed + 1} of {budget.repeats} (seed {seed})")
                run = RUNNERS[tuner](budget, seed, Path(folder))
            print(
                f"=== {tuner}: {run.wall_s:.1f} s, {run.trials} trials, {len(run.epochs)} "
                f"epochs, best val_acc {run.best_acc:.4f}, first epoch {run.first_epoch_s:.1f} s"
            )
            runs.append(run)

    markdown = report_markdown(runs, budget, command, time.perf_counter() - began, ray_start_s)
    path = write_result(RESULTS_FILE, markdown, *([args.out] if args.out else []))
    print("\n" + markdown)
    print(f"Written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
