"""Scale benchmark: raytune-hp with 1 to 32 concurrent simulated trials on a fake-GPU cluster.

A Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that runs no trials and
four worker nodes that declare eight fake GPUs each) runs
:func:`raytune_hp.experiment.run_experiment` on a config whose ``train.function`` is
:func:`benchmarks.simulated.train`: a synthetic learning curve whose epochs are sleeps, one fake
GPU and one CPU per trial, random search, no early stopping, so every trial lasts the same
simulated time. For each concurrency level (``search.max_concurrent``) it runs a few waves of
trials and measures, from the trials' own clocks and from ``/proc``:

- **trials per minute**: trials ended ÷ tuning wall time (``run_experiment`` less the final
  summary and plots, which are timed apart);
- **utilization**: simulated seconds (the sleeps the trials did) ÷ (concurrency × wall); and in
  the **steady state**, from the moment the run's last new actor began training (start-ups over)
  to the start of its last trial (so neither start-up nor the last wave's tail counts);
- **driver CPU per result**: the driver process's CPU seconds ÷ results, over the run and in the
  steady state; the driver's main thread (Tune's loop) apart from Ray's threads in it;
- **report gap**: the seconds inside a trial between one epoch's end and the next's start: the
  round trip of a report through the trial's process, Ray and the driver;
- **CPU per result by process**: the driver, the trials' processes, the raylets, the GCS, and
  the rest of the machine, from ``/proc/<pid>/stat`` sampled every 0.5 s.

Besides the levels it runs the top level with ASHA under cProfile (where does the driver's time
go, and what does ``PersistentASHA`` cost?), and times ``PersistentASHA`` alone on fake results
for a growing number of trials; and it runs many more trials at one level (does the driver's
cost per result grow with the number of trials?). Results go to
``benchmarks/results/scale.md`` and ``benchmarks/results/scale.png``, or to ``--out DIR``.

Ray runs in a private ``RAY_TMPDIR`` (``/tmp/scale-ray`` unless set) without token auth; only
this script's cluster is shut down at the end.

This file holds the plan (the levels and runs, the config) and what a run measured (:class:`Run`);
its parts live beside it: ``fake_cluster.py`` starts the cluster, ``proc_sampler.py`` samples
``/proc``, ``asha_cost.py`` times ``PersistentASHA`` alone, and ``scale_report.py`` writes the
tables, the target's verdict and the plot.

Usage (from the repository root):
    .venv/bin/python benchmarks/scale.py --quick         # 2 waves, 64 trials at 4 (~4 min, 2 cores)
    .venv/bin/python benchmarks/scale.py                 # 4 waves, 256 trials at 4
    .venv/bin/python benchmarks/scale.py --levels 1 4    # only these levels, no other runs
    .venv/bin/python benchmarks/scale.py --quick --out /tmp/scale-check  # results not committed
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import math
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asha_cost import asha_cost
from common import RESULTS, ROOT, write_result
from fake_cluster import start_cluster
from proc_sampler import KINDS, Sample, Sampler, sample_at
from scale_report import TARGET_CONCURRENCY, num, plot, report_markdown

from raytune_hp.config import ExperimentConfig, load_config

RESULTS_FILE, PLOT_FILE = "scale.md", "scale.png"
CONFIG_NAME = "benchmarks/scale.yaml"  # names the config in messages only: its text is below
CONFIG = """\
name: scale
seed: 0
shared_storage: true    # every node of the local cluster writes to this machine's disk
data: {loader: "benchmarks.simulated:load"}
model: {builder: "benchmarks.simulated:build", tables: [optimization, regularization]}
train: {function: "benchmarks.simulated:train", retries: 0}
space:
  optimizer: adam
  batch_size: 128
  weight_decay: 0.0
  epoch_seconds: {kind: choice, choices: [0.25]}
search: {strategy: random}
early_stopping: {name: none}
resources: {cpus_per_trial: 1, gpus_per_trial: 1}
"""


@dataclass(frozen=True)
class Plan:
    """The cluster, the simulated trial, and the runs."""

    levels: tuple[int, ...]
    waves: int
    epochs: int = 8
    epoch_seconds: float = 0.25
    growth: tuple[int, int] | None = None  # (concurrency, trials) of a many-trials run
    nodes: int = 4
    gpus_per_node: int = 8
    extra_runs: bool = True
    profiled_asha: bool = True  # the ASHA run under cProfile, for the driver's top costs
    asha_trials: tuple[int, ...] = (100, 1000, 4000)  # PersistentASHA alone, on fake results

    @property
    def trial_s(self) -> float:
        return self.epochs * self.epoch_seconds


QUICK = Plan(
    levels=(1, 4, 16, 32), waves=2, growth=(4, 64), profiled_asha=False, asha_trials=(100, 1000)
)
FULL = Plan(levels=(1, 4, 16, 32), waves=4, growth=(4, 256))


@dataclass(frozen=True)
class Spec:
    """One run: its label, concurrency, trials, early stopping, and whether it is profiled."""

    label: str
    concurrency: int
    trials: int
    early_stopping: str = "none"
    profile: bool = False


@dataclass(frozen=True)
class Epoch:
    """One epoch a trial reported: its sleep's wall-clock bounds, its process's pid and CPU."""

    trial: str
    epoch: int
    start: float
    end: float
    pid: int
    process_cpu_s: float


@dataclass
class Run:
    """What one run measured, and what follows from it."""

    spec: Spec
    began: float  # wall clock (time.time()) when run_experiment was called
    wall_s: float  # run_experiment's wall time less the final reports
    reports_s: float  # the final reports: summary, plots, importance
    driver_cpu_s: float  # the driver process's CPU seconds less the final reports'
    main_thread_cpu_s: float  # of which the main thread's (Tune's loop)
    ended: int  # trials that completed or were stopped early
    epochs: list[Epoch]
    samples: list[Sample]
    workers_started: int  # Ray worker processes started during the run, trained or not
    state_kib: float  # Tune's experiment-state file at the end
    stats: pstats.Stats | None = None
    trial_starts: dict[str, float] = field(init=False)
    actor_starts: dict[int, float] = field(init=False)

    def __post_init__(self) -> None:
        self.trial_starts, self.actor_starts = {}, {}
        for e in self.epochs:
            self.trial_starts[e.trial] = min(self.trial_starts.get(e.trial, e.start), e.start)
            self.actor_starts[e.pid] = min(self.actor_starts.get(e.pid, e.start), e.start)

    @property
    def results(self) -> int:
        return len(self.epochs)

    @property
    def trials_per_min(self) -> float:
        return self.ended / self.wall_s * 60

    @property
    def utilization(self) -> float:
        simulated = sum(e.end - e.start for e in self.epochs)
        return simulated / (self.spec.concurrency * self.wall_s)

    @property
    def startup_s(self) -> float:
        """From the call until the run's last new actor began training."""
        return max(self.actor_starts.values()) - self.began

    @property
    def peak_concurrency(self) -> int:
        """The most trials that were between their first epoch's start and last epoch's end at
        one moment."""
        spans: dict[str, list[float]] = {}
        for e in self.epochs:
            span = spans.setdefault(e.trial, [e.start, e.end])
            span[0], span[1] = min(span[0], e.start), max(span[1], e.end)
        events = sorted([(a, 1) for a, _ in spans.values()] + [(b, -1) for _, b in spans.values()])
        running = peak = 0
        for _, step in events:
            running += step
            peak = max(peak, running)
        return peak

    @property
    def actor_startup_cpu_s(self) -> float:
        """Median CPU seconds an actor process had used when its first epoch ended (booting the
        worker, importing torch, Ray Tune and raytune-hp; the sleep uses none)."""
        first: dict[int, Epoch] = {}
        for e in self.epochs:
            if e.pid not in first or e.start < first[e.pid].start:
                first[e.pid] = e
        return statistics.median(e.process_cpu_s for e in first.values())

    @property
    def actor_ms_per_result(self) -> float:
        """Median CPU milliseconds a trial's process spent from one epoch's end to the next's
        (the report, its checkpoint, TensorBoard; the sleep uses none)."""
        by_trial: dict[str, list[Epoch]] = {}
        for e in sorted(self.epochs, key=lambda e: e.start):
            by_trial.setdefault(e.trial, []).append(e)
        spent = [
            b.process_cpu_s - a.process_cpu_s
            for es in by_trial.values()
            for a, b in itertools.pairwise(es)
        ]
        return statistics.median(spent) * 1000 if spent else math.nan

    def steady_window(self) -> tuple[float, float] | None:
        """From the last new actor's first epoch to the last trial's first epoch; ``None`` when
        that is shorter than one epoch."""
        begin, end = max(self.actor_starts.values()), max(self.trial_starts.values())
        epoch_s = statistics.median(e.end - e.start for e in self.epochs)
        return (begin, end) if end - begin > epoch_s else None

    @property
    def steady_utilization(self) -> float | None:
        window = self.steady_window()
        if window is None:
            return None
        begin, end = window
        inside = sum(max(0.0, min(e.end, end) - max(e.start, begin)) for e in self.epochs)
        return inside / (self.spec.concurrency * (end - begin))

    def gaps(self) -> tuple[list[float], list[float]]:
        """Seconds between consecutive epochs of a trial (a report's round trip), and between
        one trial's last epoch and the next trial's first epoch on the same actor."""
        by_trial: dict[str, list[Epoch]] = {}
        for e in sorted(self.epochs, key=lambda e: e.start):
            by_trial.setdefault(e.trial, []).append(e)
        report = [b.start - a.end for es in by_trial.values() for a, b in itertools.pairwise(es)]
        by_pid: dict[int, list[tuple[float, float]]] = {}
        for es in by_trial.values():
            by_pid.setdefault(es[0].pid, []).append((es[0].start, es[-1].end))
        turnover = [
            b[0] - a[1] for spans in by_pid.values() for a, b in itertools.pairwise(sorted(spans))
        ]
        return report, turnover

    def cpu_between(self, begin: float, end: float) -> tuple[dict[str, float], int]:
        """CPU seconds per kind of process (and ``"machine"``, ``"main thread"``, and the
        ``"seconds"`` between them) from the sample nearest ``begin`` to the one nearest
        ``end``, and the results the trials reported in between."""
        low, high = sample_at(self.samples, begin), sample_at(self.samples, end)
        used = {kind: high.cpu_s[kind] - low.cpu_s[kind] for kind in KINDS}
        used["machine"] = high.machine_cpu_s - low.machine_cpu_s
        used["main thread"] = high.main_thread_cpu_s - low.main_thread_cpu_s
        used["seconds"] = high.wall - low.wall
        return used, sum(1 for e in self.epochs if low.wall < e.end <= high.wall)

    def steady_costs(self) -> tuple[dict[str, float], int] | None:
        """CPU seconds per kind in the steady window, and the results reported in it."""
        window = self.steady_window()
        return None if window is None else self.cpu_between(*window)

    def driver_ms_per_result_by_quarter(self) -> list[float]:
        """The driver's CPU per result in each quarter of the results, in the order the trials
        reported them: a rise means a cost that grows with the number of trials."""
        ends = sorted(e.end for e in self.epochs)
        bounds = [ends[0]] + [ends[len(ends) * q // 4 - 1] for q in (1, 2, 3, 4)]
        costs = []
        for low, high in itertools.pairwise(bounds):
            used, results = self.cpu_between(low, high)
            costs.append(used["driver"] / max(1, results) * 1000)
        return costs

    @property
    def min_available_gib(self) -> float:
        return min(s.available_gib for s in self.samples)


def experiment_config(spec: Spec, plan: Plan, storage: Path) -> ExperimentConfig:
    """The benchmark's config with this run's concurrency, trials and early stopping."""
    overrides = [
        f"name={spec.label}",
        f"storage={storage}",
        f"train.max_epochs={plan.epochs}",
        f"space.epoch_seconds.choices=[{plan.epoch_seconds}]",
        f"search.num_samples={spec.trials}",
        f"search.max_concurrent={spec.concurrency}",
        f"early_stopping.name={spec.early_stopping}",
    ]
    return load_config(CONFIG_NAME, overrides, text=CONFIG)


def read_epochs(folder: Path) -> list[Epoch]:
    """Every epoch the trials reported, from their ``result.json``."""
    from benchmarks.simulated import PID, PROCESS_CPU_S, SIM_END, SIM_START

    epochs = []
    for path in sorted(folder.glob("*/result.json")):
        for line in path.read_text().splitlines():
            result = json.loads(line)
            epochs.append(
                Epoch(
                    result["trial_id"],
                    int(result["epoch"]),
                    float(result[SIM_START]),
                    float(result[SIM_END]),
                    int(result[PID]),
                    float(result[PROCESS_CPU_S]),
                )
            )
    return epochs


def run(spec: Spec, plan: Plan, storage: Path) -> Run:
    """``run_experiment`` on the benchmark's config, timed, with the final reports timed apart
    (``write_reports`` is wrapped for the run, nothing else changes)."""
    from raytune_hp import experiment

    config = experiment_config(spec, plan, storage)
    final = {"wall": 0.0, "cpu": 0.0, "main": 0.0}
    write_reports = experiment.write_reports

    # Profiled by the main thread's CPU clock (Tune's loop, not the time it waits on Ray), the
    # final reports left out.
    profiler = cProfile.Profile(time.thread_time) if spec.profile else None

    def timed_write_reports(*args: Any, **kwargs: Any) -> Any:
        if profiler is not None:
            profiler.disable()
        wall, cpu, main = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            return write_reports(*args, **kwargs)
        finally:
            final["wall"] += time.perf_counter() - wall
            final["cpu"] += time.process_time() - cpu
            final["main"] += time.thread_time() - main
            if profiler is not None:
                profiler.enable()

    environment = dict(os.environ)
    experiment.write_reports = timed_write_reports
    try:
        with Sampler() as sampler:
            began, wall = time.time(), time.perf_counter()
            cpu, main = sampler.driver_cpu_s, time.thread_time()
            if profiler is not None:
                profiler.enable()
            outcome = experiment.run_experiment(config)
            if profiler is not None:
                profiler.disable()
            wall, main = time.perf_counter() - wall, time.thread_time() - main
            cpu = sampler.driver_cpu_s - cpu
    finally:
        experiment.write_reports = write_reports
        # run_experiment sets Tune's environment for its own output: each run starts afresh.
        os.environ.clear()
        os.environ.update(environment)
    return Run(
        spec,
        began,
        wall - final["wall"],
        final["wall"],
        cpu - final["cpu"],
        main - final["main"],
        sum(1 for t in outcome.trials if t.status in ("completed", "pruned")),
        read_epochs(storage / spec.label),
        sampler.samples,
        sampler.workers_started,
        sum(p.stat().st_size for p in (storage / spec.label).glob("experiment_state-*.json"))
        / 1024,
        pstats.Stats(profiler) if profiler is not None else None,
    )


def runs_of(plan: Plan) -> list[Spec]:
    """The runs of ``plan`` in order: each level, then the many-trials and profiled ASHA runs."""
    specs = [Spec(f"fifo-{c}", c, plan.waves * c) for c in plan.levels]
    if plan.extra_runs and plan.growth is not None:
        c, trials = plan.growth
        specs.append(Spec(f"fifo-{c}-many", c, trials))
    if plan.extra_runs and plan.profiled_asha:
        top = max(plan.levels)
        specs.append(Spec(f"asha-{top}-profiled", top, plan.waves * top, "asha", profile=True))
    return specs


def _shown(path: Path) -> Path:
    """``path`` from the repository root where it lies inside it, else as it is."""
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 waves per level, 64 trials at 4, no profiled ASHA run (~4 min)",
    )
    parser.add_argument(
        "--levels", type=int, nargs="+", help="only these concurrency levels, no other runs"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        metavar="DIR",
        help="the folder for scale.md and scale.png (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.levels:
        slots = plan.nodes * plan.gpus_per_node
        bad = [level for level in args.levels if not 1 <= level <= slots]
        if bad:
            parser.error(f"--levels must be integers from 1 to {slots} (the slots); got {bad}")
        plan = replace(plan, levels=tuple(args.levels), extra_runs=False)
    command = " ".join([".venv/bin/python", "benchmarks/scale.py", *sys.argv[1:]])
    # The config's import paths (benchmarks.simulated:...) resolve from the repository root.
    sys.path.insert(0, str(ROOT))

    import ray

    began = time.perf_counter()
    cluster = start_cluster(plan.nodes, plan.gpus_per_node)
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as folder:
            run(Spec("warm-up", 1, 1), replace(plan, epochs=1), Path(folder))
        for spec in runs_of(plan):
            print(f"\n=== {spec.label}: {spec.trials} trials, {spec.concurrency} at a time")
            with tempfile.TemporaryDirectory(prefix="scale-") as folder:
                result = run(spec, plan, Path(folder))
            print(
                f"=== {spec.label}: {result.wall_s:.1f} s, {result.ended} trials, "
                f"utilization {result.utilization:.2f} (steady "
                f"{num(result.steady_utilization)}), driver "
                f"{result.driver_cpu_s / max(1, result.results) * 1000:.1f} ms/result"
            )
            runs.append(result)
    finally:
        ray.shutdown()
        cluster.shutdown()
    costs = []
    if plan.extra_runs:
        with tempfile.TemporaryDirectory(prefix="scale-asha-") as folder:
            specs = [
                Spec(f"asha-{trials}", TARGET_CONCURRENCY, trials, early_stopping="asha")
                for trials in plan.asha_trials
            ]
            costs = [asha_cost(experiment_config(spec, plan, Path(folder))) for spec in specs]

    markdown = report_markdown(runs, costs, plan, command, time.perf_counter() - began)
    path = write_result(RESULTS_FILE, markdown, args.out)
    plot(runs, plan).savefig(args.out / PLOT_FILE, dpi=110)
    print("\n" + markdown)
    print(f"Written to {_shown(path)} and {_shown(args.out / PLOT_FILE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
