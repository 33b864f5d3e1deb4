"""Scale benchmark: raytune-hp with 8 to 32 concurrent simulated trials on a fake-GPU cluster.

A Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head that runs no trials and
four worker nodes that declare eight fake GPUs each) runs
:func:`raytune_hp.experiment.run_experiment` on a config whose ``train.function`` is
:func:`benchmarks.simulated.train`: no training, each epoch a sleep of ``epoch_seconds`` (2 s, the
target's condition, and longer in the full mode) and one report with raytune-hp's checkpoint,
one fake GPU and one CPU per trial, random search, no early stopping.

Each run starts as many trials as it has slots (``search.max_concurrent``) and measures two
phases apart, from the trials' own clocks and from ``/proc``:

- **start-up**: from the call until the first trial's first epoch, and until every trial runs
  (the last trial's first epoch); the Ray worker processes per node; the CPU an actor had used by
  the end of its first epoch (booting, importing torch, Ray Tune and raytune-hp);
- **steady state**: the window from the moment every trial runs until the first trial ends.
  The trials end on a signal (a file the simulated trial looks for after each epoch) written
  ``steady_s`` after every trial runs, so the window is as long on a slow machine as on a fast
  one. Utilization = busy trial-seconds (the sleeps) ÷ slot-seconds (slots × window); the
  driver's CPU per result (and its main thread's: Tune's loop); the results per second the
  driver served; the gap inside a trial between one epoch's end and the next's start (the
  report's round trip through the trial's process, Ray and the driver).

From the steady state's driver cost per result (and how it grows with the slots) the report
projects on paper the largest cluster one driver keeps busy. ``PersistentASHA`` is also timed
alone on fake results (``asha_cost.py``). Results go to ``benchmarks/results/scale.md`` and
``scale.png``, or to ``--out DIR``.

Ray runs in a private ``RAY_TMPDIR`` (``/tmp/scale-ray`` unless set) without token auth, its
workers at this script's priority; only this script's cluster is shut down at the end.

This file holds the plan (the runs, the config) and what a run measured (:class:`Run`); its parts
live beside it: ``fake_cluster.py`` starts the cluster, ``proc_sampler.py`` samples ``/proc``,
``asha_cost.py`` times ``PersistentASHA`` alone, and ``scale_report.py`` writes the tables, the
target's verdict, the projection and the plot.

Usage (from the repository root):
    .venv/bin/python benchmarks/scale.py --quick         # 8, 32 slots; 2 s epochs (~3 min)
    .venv/bin/python benchmarks/scale.py                 # 8, 16, 32; 60 s windows; + 32 of 10 s
    .venv/bin/python benchmarks/scale.py --levels 8 32   # only these levels, 2 s epochs
    .venv/bin/python benchmarks/scale.py --quick --levels 32 --epoch-seconds 10  # longer epochs
    .venv/bin/python benchmarks/scale.py --quick --out /tmp/scale-check  # results not committed
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from asha_cost import asha_cost
from common import RESULTS, ROOT, write_result
from fake_cluster import start_cluster
from proc_sampler import Sample, Sampler, cpu_between, sample_at
from scale_report import num, plot, report_markdown

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
  epoch_seconds: {kind: choice, choices: [2.0]}
  stop_file: {kind: choice, choices: [""]}
search: {strategy: random}
early_stopping: {name: none}
resources: {cpus_per_trial: 1, gpus_per_trial: 1}
"""
MAX_EPOCHS = 100_000  # a cap only: the trials end on the stop file
POLL_S = 0.25  # how often the run's watcher reads the trials' results


@dataclass(frozen=True)
class Spec:
    """One run: its label, its slots (concurrent trials, one per slot), the epoch's seconds, and
    the steady window's length."""

    label: str
    concurrency: int
    epoch_seconds: float
    steady_s: float


@dataclass(frozen=True)
class Plan:
    """The cluster and the runs."""

    levels: tuple[int, ...]  # concurrent trials, each with epochs of `epoch_seconds`
    steady_s: float
    epoch_seconds: float = 2.0
    longer: tuple[tuple[int, float], ...] = ()  # (concurrency, epoch seconds) of longer epochs
    nodes: int = 4
    gpus_per_node: int = 8
    asha_trials: tuple[int, ...] = (100, 1000)  # PersistentASHA alone, on fake results

    def specs(self) -> list[Spec]:
        runs = [(c, self.epoch_seconds) for c in self.levels] + list(self.longer)
        return [Spec(f"{c}x{s:g}s", c, s, max(self.steady_s, 4 * s)) for c, s in runs]


QUICK = Plan(levels=(8, 32), steady_s=10)
FULL = Plan(levels=(8, 16, 32), steady_s=60, longer=((32, 10.0),), asha_trials=(100, 1000, 4000))


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
    epochs: list[Epoch]
    samples: list[Sample]
    worker_node: dict[int, int]  # every Ray worker process seen -> its raylet (node)
    workers_started: int  # of which started during the run
    head_raylet: int  # the head node's raylet

    def by_trial(self) -> dict[str, list[Epoch]]:
        trials: dict[str, list[Epoch]] = {}
        for e in sorted(self.epochs, key=lambda e: e.start):
            trials.setdefault(e.trial, []).append(e)
        return trials

    @property
    def first_epoch_s(self) -> float:
        """From the call until the first trial's first epoch began."""
        return min(e.start for e in self.epochs) - self.began

    @property
    def all_running_s(self) -> float:
        """From the call until every trial ran: the last trial's first epoch began."""
        return max(es[0].start for es in self.by_trial().values()) - self.began

    def window(self) -> tuple[float, float]:
        """The steady window: from the last trial's first epoch's start until the first trial's
        last epoch's end (every slot holds a running trial throughout)."""
        trials = self.by_trial().values()
        return max(es[0].start for es in trials), min(es[-1].end for es in trials)

    @property
    def window_s(self) -> float:
        begin, end = self.window()
        return end - begin

    def inside(self) -> list[Epoch]:
        """The epochs that ended inside the steady window: its results."""
        begin, end = self.window()
        return [e for e in self.epochs if begin < e.end <= end]

    @property
    def utilization(self) -> float:
        """Busy trial-seconds ÷ slot-seconds over the steady window."""
        begin, end = self.window()
        busy = sum(max(0.0, min(e.end, end) - max(e.start, begin)) for e in self.epochs)
        return busy / (self.spec.concurrency * (end - begin))

    @property
    def results_per_s(self) -> float:
        return len(self.inside()) / self.window_s

    def report_gaps(self) -> list[float]:
        """Seconds from one epoch's end to the next's start inside a trial, in the window."""
        begin, end = self.window()
        return [
            b.start - a.end
            for es in self.by_trial().values()
            for a, b in itertools.pairwise(es)
            if begin <= a.end and b.start <= end
        ]

    def steady_cpu(self) -> tuple[dict[str, float], int]:
        """CPU seconds per kind of process (and ``"machine"``, ``"main thread"``, and the
        ``"seconds"`` between the samples) over the steady window, and the results in it."""
        used, low, high = cpu_between(self.samples, *self.window())
        return used, sum(1 for e in self.epochs if low.wall < e.end <= high.wall)

    def driver_ms_per_result(self) -> tuple[float, float]:
        """The driver process's and its main thread's CPU ms per result in the steady window."""
        used, results = self.steady_cpu()
        per = 1000 / max(1, results)
        return used["driver"] * per, used["main thread"] * per

    @property
    def actor_startup_cpu_s(self) -> float:
        """Median CPU seconds an actor process had used when its first epoch ended (booting the
        worker, importing torch, Ray Tune and raytune-hp; the sleep uses none)."""
        first: dict[int, Epoch] = {}
        for e in self.epochs:
            if e.pid not in first or e.start < first[e.pid].start:
                first[e.pid] = e
        return statistics.median(e.process_cpu_s for e in first.values())

    def workers_per_node(self) -> list[tuple[bool, int, int]]:
        """Per node that had any: (the head?, Ray worker processes seen during the run, of which
        trained), the head first, then the nodes in the order their raylets started."""
        trained = {e.pid for e in self.epochs}
        nodes: dict[int, list[int]] = {}
        for pid, raylet in self.worker_node.items():
            nodes.setdefault(raylet, []).append(pid)
        order = sorted(nodes, key=lambda raylet: (raylet != self.head_raylet, raylet))
        return [
            (
                raylet == self.head_raylet,
                len(nodes[raylet]),
                sum(p in trained for p in nodes[raylet]),
            )
            for raylet in order
        ]

    def startup_busy_cores(self) -> float:
        """Cores the whole machine kept busy from the call until every trial ran."""
        low = sample_at(self.samples, self.began)
        high = sample_at(self.samples, self.began + self.all_running_s)
        return (high.machine_cpu_s - low.machine_cpu_s) / max(1e-9, high.wall - low.wall)


def experiment_config(
    spec: Spec,
    storage: Path,
    stop_file: Path,
    *,
    trials: int | None = None,
    epochs: int = 0,
    early_stopping: str = "none",
) -> ExperimentConfig:
    """The benchmark's config for ``spec``: one trial per slot unless ``trials`` says, each
    until ``stop_file`` exists (or ``epochs``, where given)."""
    overrides = [
        f"name={spec.label}",
        f"storage={storage}",
        f"train.max_epochs={epochs or MAX_EPOCHS}",
        f"space.epoch_seconds.choices=[{spec.epoch_seconds}]",
        f"space.stop_file.choices=[{json.dumps(str(stop_file))}]",
        f"search.num_samples={trials or spec.concurrency}",
        f"search.max_concurrent={spec.concurrency}",
        f"early_stopping.name={early_stopping}",
    ]
    return load_config(CONFIG_NAME, overrides, text=CONFIG)


def read_epochs(folder: Path) -> list[Epoch]:
    """Every epoch the trials reported, from their ``result.json``."""
    from benchmarks.simulated import PID, PROCESS_CPU_S, SIM_END, SIM_START

    epochs = []
    for path in sorted(folder.glob("*/result.json")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
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


def stop_when_steady(folder: Path, spec: Spec, stop_file: Path, done: threading.Event) -> None:
    """Writes ``stop_file`` about ``spec.steady_s`` after the last trial began: the trials then
    end at their next epoch's end, so the window lasts from ``steady_s`` to an epoch more."""
    all_reported: float | None = None
    while not done.wait(POLL_S):
        if all_reported is None:
            started = [p for p in folder.glob("*/result.json") if p.stat().st_size > 0]
            if len(started) >= spec.concurrency:
                all_reported = time.time()
        # A trial's first result comes an epoch after it began.
        elif time.time() >= all_reported + spec.steady_s - spec.epoch_seconds:
            stop_file.touch()
            return


@contextlib.contextmanager
def reports_timed() -> Iterator[dict[str, float]]:
    """While the block runs, ``run_experiment``'s final reports (summary, plots) are timed apart:
    the wall and CPU seconds they took, in the dict it yields. Afterwards the environment is as
    before: ``run_experiment`` sets Tune's for its own output, and each run starts afresh."""
    from raytune_hp import experiment

    final = {"wall": 0.0, "cpu": 0.0}
    write_reports = experiment.write_reports

    def timed_write_reports(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return write_reports(*args, **kwargs)
        finally:
            final["wall"] += time.perf_counter() - wall
            final["cpu"] += time.process_time() - cpu

    environment = dict(os.environ)
    experiment.write_reports = timed_write_reports
    try:
        yield final
    finally:
        experiment.write_reports = write_reports
        os.environ.clear()
        os.environ.update(environment)


def run(spec: Spec, storage: Path, head_raylet: int) -> Run:
    """``run_experiment`` on the benchmark's config, timed, with the final reports timed apart
    (``write_reports`` is wrapped for the run, nothing else changes)."""
    from raytune_hp import experiment

    stop_file = storage / "stop"
    config = experiment_config(spec, storage, stop_file)
    done = threading.Event()
    watcher = threading.Thread(
        target=stop_when_steady, args=(storage / spec.label, spec, stop_file, done), daemon=True
    )
    try:
        with reports_timed() as final, Sampler() as sampler:
            began, wall = time.time(), time.perf_counter()
            watcher.start()
            experiment.run_experiment(config)
            wall = time.perf_counter() - wall
    finally:
        done.set()
    return Run(
        spec,
        began,
        wall - final["wall"],
        final["wall"],
        read_epochs(storage / spec.label),
        sampler.samples,
        dict(sampler.worker_node),
        sampler.workers_started,
        head_raylet,
    )


def _shown(path: Path) -> Path:
    """``path`` from the repository root where it lies inside it, else as it is."""
    path = path.resolve()
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="8 and 32 slots of 2 s epochs, 10 s steady windows (~3 min)",
    )
    parser.add_argument(
        "--levels", type=int, nargs="+", help="only these numbers of slots, 2 s epochs"
    )
    parser.add_argument(
        "--epoch-seconds", type=float, help="with --levels: each epoch's seconds (default 2)"
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
        seconds = args.epoch_seconds or plan.epoch_seconds
        if seconds <= 0:
            parser.error(f"--epoch-seconds must be a number above 0; got {seconds}")
        plan = replace(plan, levels=tuple(args.levels), longer=(), epoch_seconds=seconds)
    command = " ".join([".venv/bin/python", "benchmarks/scale.py", *sys.argv[1:]])
    # The config's import paths (benchmarks.simulated:...) resolve from the repository root.
    sys.path.insert(0, str(ROOT))

    import ray

    began = time.perf_counter()
    cluster = start_cluster(plan.nodes, plan.gpus_per_node)
    head_raylet = cluster.head_node.all_processes["raylet"][0].process.pid
    runs: list[Run] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scale-") as folder:
            run(Spec("warm-up", 1, 0.1, 0.0), Path(folder), head_raylet)
        for spec in plan.specs():
            print(f"\n=== {spec.label}: {spec.concurrency} trials of {spec.epoch_seconds} s epochs")
            with tempfile.TemporaryDirectory(prefix="scale-") as folder:
                result = run(spec, Path(folder), head_raylet)
            driver, main = result.driver_ms_per_result()
            print(
                f"=== {spec.label}: all running after {result.all_running_s:.1f} s, steady "
                f"{result.window_s:.1f} s at utilization {num(result.utilization, 3)}, driver "
                f"{driver:.1f} ms/result ({main:.1f} main thread)"
            )
            runs.append(result)
    finally:
        ray.shutdown()
        cluster.shutdown()
    with tempfile.TemporaryDirectory(prefix="scale-asha-") as folder:
        storage = Path(folder)
        configs = [
            experiment_config(
                Spec(f"asha-{n}", 32, plan.epoch_seconds, 0.0),
                storage,
                storage / "stop",
                trials=n,
                epochs=8,
                early_stopping="asha",
            )
            for n in plan.asha_trials
        ]
        costs = [asha_cost(config) for config in configs]

    markdown = report_markdown(runs, costs, plan, command, time.perf_counter() - began)
    path = write_result(RESULTS_FILE, markdown, args.out)
    plot(runs).savefig(args.out / PLOT_FILE, dpi=110)
    print("\n" + markdown)
    print(f"Written to {_shown(path)} and {_shown(args.out / PLOT_FILE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
