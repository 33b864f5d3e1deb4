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
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asha_cost import AshaCost, asha_cost, asha_table
from common import RESULTS, ROOT, header, write_result
from fake_cluster import start_cluster
from proc_sampler import KINDS, SAMPLE_S, Sample, Sampler, sample_at

from raytune_hp.config import ExperimentConfig, load_config

RESULTS_FILE, PLOT_FILE = "scale.md", "scale.png"
CONFIG_NAME = "benchmarks/scale.yaml"  # names the config in messages only: its text is below
CONFIG = """\
name: scale
seed: 0
shared_storage: true    # every node of the local cluster writes to this machine's disk
data: {loader: "benchmarks.simulated:load"}
model: {builder: "benchmarks.simulated:build", tables: [optimization, regularization]}
train: {function: "benchmarks.simulated:train", allow_oversized: true, retries: 0}
space:
  optimizer: adam
  batch_size: 128
  weight_decay: 0.0
  epoch_seconds: {kind: choice, choices: [0.25]}
search: {strategy: random}
early_stopping: {name: none}
resources: {cpus_per_trial: 1, gpus_per_trial: 1}
"""
TARGET_CONCURRENCY, TARGET_UTILIZATION, TARGET_TRIAL_S = 32, 0.9, 2.0


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
    specs = [Spec(f"fifo-{c}", c, plan.waves * c) for c in plan.levels]
    if plan.extra_runs and plan.growth is not None:
        c, trials = plan.growth
        specs.append(Spec(f"fifo-{c}-many", c, trials))
    if plan.extra_runs and plan.profiled_asha:
        top = max(plan.levels)
        specs.append(Spec(f"asha-{top}-profiled", top, plan.waves * top, "asha", profile=True))
    return specs


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _median_ms(values: list[float]) -> str:
    if not values:
        return "—"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:.0f} / {p90 * 1000:.0f}"


def throughput_table(runs: list[Run]) -> list[str]:
    lines = [
        "| run | concurrency | trials ended | results | wall s | trials/min | utilization "
        "| steady utilization | peak concurrent trials | actors that trained "
        "| Ray workers started | start-up s | CPU s per actor start | final reports s "
        "| min GiB available |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.spec.label} | {r.spec.concurrency} | {r.ended} | {r.results} "
            f"| {r.wall_s:.1f} | {r.trials_per_min:.1f} | {r.utilization:.2f} "
            f"| {_num(r.steady_utilization)} | {r.peak_concurrency} | {len(r.actor_starts)} "
            f"| {r.workers_started} | {r.startup_s:.1f} | {r.actor_startup_cpu_s:.1f} "
            f"| {r.reports_s:.1f} | {r.min_available_gib:.1f} |"
        )
    return lines


def cost_table(runs: list[Run]) -> list[str]:
    lines = [
        "| run | driver CPU s (main thread) | driver ms/result "
        "| steady: driver ms/result (main thread) "
        "| trial process ms/result | steady: CPU ms/result, all processes "
        "| steady: machine busy (of 2 cores) | report gap ms (median / p90) "
        "| trial turnover ms (median / p90) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        report, turnover = r.gaps()
        steady = r.steady_costs()
        if steady is None:
            driver = everything = busy = "—"
        else:
            used, results = steady
            per = 1000 / max(1, results)
            driver = f"{used['driver'] * per:.1f} ({used['main thread'] * per:.1f})"
            everything = f"{sum(used[k] for k in KINDS if k != 'rest of machine') * per:.1f}"
            busy = f"{used['machine'] / used['seconds']:.2f}"
        lines.append(
            f"| {r.spec.label} | {r.driver_cpu_s:.1f} ({r.main_thread_cpu_s:.1f}) "
            f"| {r.driver_cpu_s / max(1, r.results) * 1000:.1f} | {driver} "
            f"| {r.actor_ms_per_result:.1f} | {everything} "
            f"| {busy} | {_median_ms(report)} | {_median_ms(turnover)} |"
        )
    return lines


def cpu_by_process_table(runs: list[Run]) -> list[str]:
    lines = [
        "| run | window s | results | " + " | ".join(KINDS) + " | machine |",
        "|---|---|---|" + "---|" * (len(KINDS) + 1),
    ]
    for r in runs:
        steady = r.steady_costs()
        if steady is None:
            continue
        used, results = steady
        per = 1000 / max(1, results)
        cells = " | ".join(f"{used[k] * per:.1f}" for k in (*KINDS, "machine"))
        lines.append(f"| {r.spec.label} | {used['seconds']:.1f} | {results} | {cells} |")
    return lines


def growth_table(runs: list[Run]) -> list[str]:
    lines = [
        "| run | trials | results | 1st quarter | 2nd | 3rd | 4th "
        "| experiment state at the end, KiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        quarters = " | ".join(f"{q:.1f}" for q in r.driver_ms_per_result_by_quarter())
        lines.append(
            f"| {r.spec.label} | {r.spec.trials} | {r.results} | {quarters} | {r.state_kib:.0f} |"
        )
    return lines


# Where Tune's loop spends its CPU, by what raytune-hp's settings ask of it:
# (label, file the function is in, function name).
PROFILE_PARTS = (
    ("Tune's loop (`TuneController.step`)", "execution/tune_controller.py", "step"),
    ("experiment-state snapshots", "execution/experiment_state.py", "sync_up_experiment_state"),
    ("snapshot writes (`save_to_dir`)", "execution/tune_controller.py", "save_to_dir"),
    ("  of which the trials' states as JSON", "experiment/trial.py", "get_json_state"),
    ("  of which the searcher's state", "search/search_generator.py", "save_to_dir"),
    (
        "results handled (`_on_training_result`)",
        "execution/tune_controller.py",
        "_on_training_result",
    ),
    ("checkpoints: saves scheduled", "execution/tune_controller.py", "_schedule_trial_save"),
    (
        "checkpoints: registered, old ones deleted",
        "_internal/checkpoint_manager.py",
        "register_checkpoint",
    ),
    ("JSON logger", "tune/logger/json.py", "log_trial_result"),
    ("CSV logger", "tune/logger/csv.py", "log_trial_result"),
    ("progress table (`CLIReporter`)", "tune/progress_reporter.py", "report"),
    ("searcher: next trial", "search/search_generator.py", "next_trial"),
    ("`PersistentASHA.on_trial_result`", "raytune_hp/early_stopping.py", "on_trial_result"),
    ("  of which rungs written", "raytune_hp/early_stopping.py", "_save_rungs"),
)


def profile_parts(stats: pstats.Stats, results: int) -> list[str]:
    """Cumulative main-thread CPU of the parts of Tune's loop that raytune-hp's settings
    decide: calls, seconds, and milliseconds per result."""
    entries = stats.stats  # type: ignore[attr-defined]
    lines = ["| part | calls | CPU s | ms per result |", "|---|---|---|---|"]
    for label, where, function in PROFILE_PARTS:
        found = [
            (nc, ct)
            for (path, _, name), (_, nc, _, ct, _) in entries.items()
            if path.endswith(where) and name == function
        ]
        if found:
            calls, seconds = sum(nc for nc, _ in found), sum(ct for _, ct in found)
            cell = label.replace("  of which", "&nbsp;&nbsp;of which")
            lines.append(
                f"| {cell} | {calls} | {seconds:.2f} | {seconds / max(1, results) * 1000:.2f} |"
            )
    return lines


def profile_table(stats: pstats.Stats, rows: int = 15) -> list[str]:
    """The functions with the most main-thread CPU of their own, and the Tune and raytune-hp
    functions with the most CPU including what they call."""
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for _, _, tt, _, _ in entries.values())

    def name(key: tuple[str, int, str]) -> str:
        path, line, function = key
        short = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path)
        short = short.removeprefix(f"{ROOT}/")
        return f"`{short}:{line}({function})`" if line else f"`{function}`"

    lines = [
        f"Main-thread CPU under the profiler: {total:.1f} s.",
        "",
        "| own CPU s | calls | function |",
        "|---|---|---|",
    ]
    by_own = sorted(entries.items(), key=lambda item: -item[1][2])[:rows]
    lines += [f"| {tt:.2f} | {nc} | {name(key)} |" for key, (_, nc, tt, _, _) in by_own]
    lines += ["", "| cumulative CPU s | calls | function |", "|---|---|---|"]
    ours = [
        item
        for item in entries.items()
        if any(part in item[0][0] for part in ("ray/tune", "ray/train", "raytune_hp"))
    ]
    by_cumulative = sorted(ours, key=lambda item: -item[1][3])[: rows * 2]
    lines += [f"| {ct:.2f} | {nc} | {name(key)} |" for key, (_, nc, _, ct, _) in by_cumulative]
    return lines


def target_lines(runs: list[Run], plan: Plan) -> list[str]:
    """Whether 32 concurrent trials of ≥ 2 s keep their slots ≥ 90 % busy, and why not."""
    top = [r for r in runs if r.spec.concurrency == TARGET_CONCURRENCY and not r.spec.profile]
    if not top or plan.trial_s < TARGET_TRIAL_S:
        return ["Target not measured: no unprofiled run at 32 concurrent trials of ≥ 2 s."]
    r = top[0]
    steady = r.steady_utilization
    met = r.utilization >= TARGET_UTILIZATION
    lines = [
        f"**Target: utilization ≥ {TARGET_UTILIZATION} at {TARGET_CONCURRENCY} concurrent "
        f"simulated trials of ≥ {TARGET_TRIAL_S:g} s: {'met' if met else 'not met'}** "
        f"({r.spec.label}: {r.utilization:.2f} over the run, "
        f"{_num(steady)} in the steady state, {plan.epochs} epochs × {plan.epoch_seconds} s).",
        "",
    ]
    cores = os.cpu_count() or 1
    workers_cpu = r.cpu_between(r.began, r.began + r.wall_s)[0]["trial processes"]
    reporting_cpu = r.actor_ms_per_result * r.results / 1000
    lines.append(
        f"- Start-up: {r.workers_started} Ray worker processes started during the run and "
        f"{len(r.actor_starts)} of them trained; an actor had used a median "
        f"{r.actor_startup_cpu_s:.1f} CPU s by the end of its first epoch (worker boot, then "
        "`import torch`, `ray.tune`, `raytune_hp.trainable` to load the trainable). The "
        f"workers used {workers_cpu:.0f} CPU s in all, about {reporting_cpu:.0f} of them for "
        f"their trials' reports: {max(0.0, workers_cpu - reporting_cpu):.0f} CPU s of starting "
        f"processes on {cores} cores. Started together, they share the cores and none trains "
        f"until most have imported: the last new actor began training {r.startup_s:.0f} s "
        f"into the {r.wall_s:.0f} s run, and at most {r.peak_concurrency} of the "
        f"{TARGET_CONCURRENCY} slots trained at once (Tune gives the next trial to an actor "
        "that finished one rather than wait for a new actor)."
    )
    steady_costs = r.steady_costs()
    if steady_costs is not None:
        used, results = steady_costs
        per = 1000 / max(1, results)
        driver, main = used["driver"] * per, used["main thread"] * per
        cluster = (used["raylets"] + used["GCS"]) * per
        total = driver + r.actor_ms_per_result + cluster
        rate = TARGET_CONCURRENCY / plan.epoch_seconds
        sustained = cores * 1000 / total
        lines.append(
            f"- Per result once trials run: the trial's process {r.actor_ms_per_result:.1f} CPU "
            "ms (its own clock: the report, raytune-hp's checkpoint, TensorBoard), the driver "
            f"{driver:.1f} ms ({main:.1f} in Tune's single-threaded loop), raylets and GCS "
            f"{cluster:.1f} ms (the steady window, {used['seconds']:.0f} s, with the machine "
            f"{used['machine'] / used['seconds']:.2f} of {cores} cores busy): {total:.0f} ms. "
            f"{TARGET_CONCURRENCY} trials reporting every {plan.epoch_seconds} s make "
            f"{rate:.0f} results/s, {rate * total / 1000:.1f} cores' worth, and "
            f"{rate * main / 1000:.2f} of a core for Tune's loop alone. {cores} cores sustain "
            f"about {sustained:.0f} results/s at that cost: at 0.9 utilization, about "
            f"{sustained * plan.epoch_seconds / TARGET_UTILIZATION:.0f} trials with "
            f"{plan.epoch_seconds} s epochs, or {TARGET_CONCURRENCY} trials with epochs of "
            f"≥ {TARGET_CONCURRENCY * TARGET_UTILIZATION / sustained:.1f} s, even with every "
            "actor started."
        )
    return lines


def plot(runs: list[Run], plan: Plan) -> Any:
    """Utilization and trials per minute against concurrency, for the levels' runs."""
    from matplotlib.figure import Figure

    levels = [r for r in runs if r.spec.label == f"fifo-{r.spec.concurrency}"]
    xs = [r.spec.concurrency for r in levels]
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot(xs, [r.utilization for r in levels], "o-", label="whole run")
    steady = [(r.spec.concurrency, r.steady_utilization) for r in levels]
    steady = [(x, u) for x, u in steady if u is not None]
    if steady:
        left.plot(*zip(*steady, strict=True), "s--", label="steady state")
    left.axhline(TARGET_UTILIZATION, color="tab:red", lw=1, ls=":", label="target")
    left.set(xlabel="concurrent trials", ylabel="utilization", ylim=(0, 1.05), xscale="log")
    left.set_title("Slot utilization")
    right.plot(xs, [r.trials_per_min for r in levels], "o-", label="measured")
    right.plot(xs, [60 * x / plan.trial_s for x in xs], ":", color="gray", label="ideal")
    right.set(xlabel="concurrent trials", ylabel="trials per minute", xscale="log", yscale="log")
    right.set_title(f"Throughput ({plan.epochs} × {plan.epoch_seconds} s trials)")
    for ax in (left, right):
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def report_markdown(
    runs: list[Run], costs: list[AshaCost], plan: Plan, command: str, runtime_s: float
) -> str:
    slots = plan.nodes * plan.gpus_per_node
    lines = [
        *header(
            "Scale benchmark: simulated trials on a fake-GPU Ray cluster",
            command,
            packages=("torch", "ray", "hyperopt"),
        ),
        f"- Cluster: `ray.cluster_utils.Cluster` on this machine: a head with 0 CPUs and 0 GPUs "
        f"(runs no trials) and {plan.nodes} worker nodes with {plan.gpus_per_node} fake GPUs and "
        f"{plan.gpus_per_node} CPUs each ({slots} slots); storage a local temporary folder with "
        "`shared_storage: true`, one per run",
        f"- Trial: `benchmarks/simulated.py`, {plan.epochs} epochs × {plan.epoch_seconds} s sleep "
        f"= {plan.trial_s:g} s simulated, one report (and raytune-hp's checkpoint) per epoch; "
        "1 fake GPU and 1 CPU per trial",
        "- Search: random (HyperOpt's random sampler through raytune-hp, the tables' starting "
        "point first), seed 0 for the searcher and every trial; no early stopping except in the "
        "ASHA run (grace period 2, reduction factor 3); raytune-hp's settings otherwise "
        "(actors reused, JSON and CSV loggers, a checkpoint per epoch, 2 kept)",
        f"- Runs, in this order: {', '.join(f'{r.spec.label} ({r.spec.trials})' for r in runs)}; "
        "a 1-trial warm-up first (not shown) so that imports and the cluster's first workers are "
        "not charged to the first level",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        "## Throughput and utilization",
        "",
        "Utilization: simulated seconds ÷ (concurrency × wall s). Steady: the same inside the "
        "window from the last new actor's first epoch to the last trial's first epoch ("
        "— where that window is shorter than an epoch). Start-up s: until the last new actor "
        "began training. CPU s per actor start: median CPU seconds of an actor process by the "
        "end of its first epoch.",
        "",
        *throughput_table(runs),
        "",
        *target_lines(runs, plan),
        "",
        "![utilization and trials per minute against concurrency](scale.png)",
        "",
        "## Costs per result",
        "",
        "Driver: this process (Tune's loop in its main thread, Ray's core-worker threads beside "
        "it), less the final reports. Report gap: inside a trial, from one epoch's end to the "
        "next's start. Trial turnover: on one actor, from a trial's last epoch to the next "
        "trial's first. The ASHA run is profiled, which slows its driver.",
        "",
        *cost_table(runs),
        "",
        "CPU ms per result by process, in each run's steady window (`/proc/<pid>/stat` every "
        f'{SAMPLE_S} s; "rest of machine" is everything this script did not start):',
        "",
        *cpu_by_process_table(runs),
        "",
        "## How the driver's cost grows with the number of trials",
        "",
        "Driver CPU ms per result in each quarter of a run's results (in the order they were "
        "reported); the first quarter carries the start-up of the actors. Each snapshot of "
        "Tune's experiment state writes every trial's state into one file and copies it to the "
        "storage, and a checkpoint per epoch with `CheckpointConfig(num_to_keep=2)` (raytune-hp's "
        "settings) makes Tune force a snapshot whenever a trial has checkpointed twice since the "
        "last one (see the profile below): the work per snapshot grows with the trials, and "
        "the snapshots come with the results.",
        "",
        *growth_table(runs),
    ]
    if costs:
        lines += [
            "",
            "`PersistentASHA` alone (`raytune_hp/early_stopping.py`), fed the fake results of "
            f"trials of {plan.epochs} epochs, {TARGET_CONCURRENCY} at a time, rungs written to a "
            "local folder:",
            "",
            *asha_table(costs),
        ]
    for r in runs:
        if r.stats is not None:
            lines += [
                "",
                f"## Where the driver's main thread spends its CPU ({r.spec.label})",
                "",
                f"cProfile on the main thread's CPU clock, final reports left out; {r.results} "
                "results. The parts of Tune's loop that raytune-hp's settings decide "
                "(cumulative, so parts nest):",
                "",
                *profile_parts(r.stats, r.results),
                "",
                *profile_table(r.stats),
            ]
    return "\n".join(lines) + "\n"


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
                f"{_num(result.steady_utilization)}), driver "
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
