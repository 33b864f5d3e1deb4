"""Driver cost benchmark: the driver's CPU per result for 10, 100 and 1,000 simulated trials.

raytune-hp itself (``run_experiment``) on a local Ray session that declares as many fake GPUs and
CPUs as trials run at once, storage a local folder, runs the simulated trial of ``scale.py``
(``benchmarks/simulated.py``: each epoch a sleep, one report and raytune-hp's checkpoint per
epoch, as real trials do) with random search and no early stopping. For each number of trials it
runs three snapshot policies, alternated, in one invocation:

- ``tune``: Ray Tune as it sets itself with ``CheckpointConfig(num_to_keep=2)``: the experiment
  state saved (and waited for) whenever a trial has checkpointed twice since the last save, and
  the whole staging folder (every trial's log) copied into the run folder at each save
  (raytune-hp before :mod:`raytune_hp.snapshots`);
- ``forced``: Tune's saves as in ``tune``, each copying the state and the trial logs that
  changed (raytune-hp before its snapshots were left to Tune's period);
- ``shipped``: raytune-hp as shipped (:func:`raytune_hp.snapshots.incremental_snapshots`): the
  state saved on Tune's period only (10 s, or 19× the last save's time), each save copying what
  changed; a dropped checkpoint is deleted once a later state no longer names it.

It measures the driver process's CPU seconds (``/proc`` through ``proc_sampler.py``, the final
summary and plots left out) per result over the run, and inside the run from its first result to
its last (the set-up and the end left out), in each quarter of the results, and how many
snapshots Tune wrote, what each cost and how large the state grew. Results go to
``benchmarks/results/driver_cost.md`` or ``--out DIR``.

Usage (from the repository root):
    .venv/bin/python benchmarks/driver_cost.py --quick   # 4 × 0.1 s epochs; tune, forced to 100
    .venv/bin/python benchmarks/driver_cost.py           # 8 epochs of 0.25 s, 8 at a time
    .venv/bin/python benchmarks/driver_cost.py --quick --trials 10 100 --out /tmp/dc
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import fake_cluster  # noqa: F401  (Ray's private RAY_TMPDIR, set before Ray is imported)
from common import RESULTS, ROOT, header, write_result
from proc_sampler import Sample, Sampler, cpu_between
from scale import Epoch, Spec, experiment_config, read_epochs, reports_timed

RESULTS_FILE = "driver_cost.md"
POLICIES = ("tune", "forced", "shipped")
# Inside the run is measured between two samples: every 0.1 s, as a 10-trial run lasts about 6 s.
SAMPLE_S = 0.1
TARGET_MS, TARGET_GROWTH = 10.0, 1.2  # the issue's: <= 10 ms per result, <= 1.2x from 10 to 1,000


@dataclass(frozen=True)
class Setup:
    """The simulated trial and how many run at once."""

    epochs: int
    epoch_seconds: float
    concurrency: int
    trials: tuple[int, ...] = (10, 100, 1000)
    forced_up_to: int | None = None  # the most trials the policies with forced saves run


# Forced snapshots take over 10 minutes for 1,000 trials on 2 cores: quick stops them at 100.
QUICK = Setup(epochs=4, epoch_seconds=0.1, concurrency=4, forced_up_to=100)
FULL = Setup(epochs=8, epoch_seconds=0.25, concurrency=8)


@dataclass
class Run:
    """One run of ``trials`` simulated trials: its wall and driver CPU seconds (the final reports
    left out), every epoch the trials reported, the ``/proc`` samples, and Tune's state file."""

    wall_s: float
    driver_cpu_s: float
    epochs: list[Epoch]
    samples: list[Sample]
    state_kib: float

    @property
    def results(self) -> int:
        return len(self.epochs)

    def cpu_between(self, begin: float, end: float) -> tuple[dict[str, float], int]:
        """CPU seconds per kind of process from the sample nearest ``begin`` to the one nearest
        ``end``, and the results the trials reported in between."""
        used, low, high = cpu_between(self.samples, begin, end)
        return used, sum(1 for e in self.epochs if low.wall < e.end <= high.wall)

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


def run(label: str, trials: int, setup: Setup, storage: Path) -> Run:
    """``run_experiment`` on the scale benchmark's config: ``trials`` trials of
    ``setup.epochs`` epochs, ``setup.concurrency`` at a time, the final reports timed apart."""
    from raytune_hp import experiment

    spec = Spec(label, setup.concurrency, setup.epoch_seconds, steady_s=0.0)
    config = experiment_config(spec, storage, storage / "never", trials=trials, epochs=setup.epochs)
    with reports_timed() as final, Sampler(SAMPLE_S) as sampler:
        wall, cpu = time.perf_counter(), sampler.driver_cpu_s
        experiment.run_experiment(config)
        wall, cpu = time.perf_counter() - wall, sampler.driver_cpu_s - cpu
    folder = storage / label
    return Run(
        wall - final["wall"],
        cpu - final["cpu"],
        read_epochs(folder),
        sampler.samples,
        sum(p.stat().st_size for p in folder.glob("experiment_state-*.json")) / 1024,
    )


@dataclass
class Measured:
    """One run of one policy: what :func:`run` measured and Tune's snapshots in it."""

    policy: str
    trials: int
    run: Run
    snapshots: int
    snapshot_s: float

    @property
    def ms_per_result(self) -> float:
        return self.run.driver_cpu_s / max(1, self.run.results) * 1000

    @property
    def inside_ms_per_result(self) -> float:
        """From the run's first result to its last: Tune's set-up and end left out."""
        ends = sorted(e.end for e in self.run.epochs)
        used, results = self.run.cpu_between(ends[0], ends[-1])
        return used["driver"] / max(1, results) * 1000


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Runs the block under snapshot policy ``name`` (see the module)."""
    from raytune_hp import experiment, snapshots

    shipped = experiment.incremental_snapshots
    if name != "shipped":
        experiment.incremental_snapshots = lambda enabled=True: snapshots.incremental_snapshots(
            enabled=enabled and name == "forced", periodic=False
        )
    try:
        yield
    finally:
        experiment.incremental_snapshots = shipped


@contextlib.contextmanager
def counted_snapshots() -> Iterator[list[float]]:
    """The seconds of each save of Tune's experiment state made while the block runs."""
    from ray.tune.execution.tune_controller import TuneController

    save = TuneController.save_to_dir
    seconds: list[float] = []

    def timed(self: Any) -> None:
        began = time.perf_counter()
        try:
            save(self)
        finally:
            seconds.append(time.perf_counter() - began)

    TuneController.save_to_dir = timed  # type: ignore[method-assign]
    try:
        yield seconds
    finally:
        TuneController.save_to_dir = save  # type: ignore[method-assign]


def measure(name: str, trials: int, setup: Setup, folder: Path) -> Measured:
    with policy(name), counted_snapshots() as seconds:
        result = run(f"{name}-{trials}", trials, setup, folder)
    return Measured(name, trials, result, len(seconds), sum(seconds))


def report(
    measured: list[Measured],
    setup: Setup,
    command: str,
    runtime_s: float,
    load: tuple[str, str],
) -> str:
    lines = header("Driver cost per result: 10 to 1,000 simulated trials", command)
    lines += [
        "- Seeds: 0 (search and every trial)",
        f"- Ray: one local session declaring {setup.concurrency} CPUs and {setup.concurrency} "
        "fake GPUs; storage a local temporary folder per run",
        f"- Trial: `benchmarks/simulated.py`, {setup.epochs} epochs × {setup.epoch_seconds} s "
        "sleep, one report and raytune-hp's checkpoint per epoch (the latest and the two best "
        f"kept); {setup.concurrency} at a time, 1 fake GPU and 1 CPU each; random search, no "
        "early stopping, actors reused",
        "- Policies, alternated for each number of trials: `tune` = Ray Tune's own (a snapshot "
        "whenever a trial has checkpointed twice since the last, each copying the whole staging "
        "folder, every trial's log, into the run folder: raytune-hp before); `forced` = the "
        "same snapshots, each copying the state and the trial logs that changed "
        "(`raytune_hp/snapshots.py`: raytune-hp before its snapshots were left to Tune's "
        "period); `shipped` = raytune-hp as shipped: snapshots on Tune's period only (10 s, or "
        "19× the last snapshot's time), each copying what changed",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        f"- Load average (1, 5, 15 min) at the start: {load[0]}; at the end: {load[1]} "
        "(2 cores shared with other work)",
        "",
        "Driver CPU: the driver process (`/proc`, Tune's loop and Ray's threads in it), less the "
        "final summary and plots. Inside: from the run's first result to its last (0.1 s "
        "samples), without Tune's set-up and end. Snapshots: saves of the experiment state "
        "Tune made, their driver seconds (writing the state, searcher and callbacks; the copy "
        "to storage is apart), and the state file at the end.",
        "",
        "| trials | policy | results | wall s | results/s | driver ms/result | inside: ms/result "
        "| quarters of the results: ms/result | snapshots | ms per snapshot | state KiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measured:
        quarters = " / ".join(f"{q:.1f}" for q in m.run.driver_ms_per_result_by_quarter())
        lines.append(
            f"| {m.trials} | {m.policy} | {m.run.results} | {m.run.wall_s:.1f} | "
            f"{m.run.results / m.run.wall_s:.1f} | {m.ms_per_result:.1f} | "
            f"{m.inside_ms_per_result:.1f} | {quarters} | {m.snapshots} | "
            f"{m.snapshot_s / max(1, m.snapshots) * 1000:.1f} | {m.run.state_kib:.0f} |"
        )
    lines += ["", "## Target: ≤ 10 ms per result and ≤ 1.2× from 10 to 1,000 trials", ""]
    for name in POLICIES:
        runs = {m.trials: m for m in measured if m.policy == name}
        if not runs:
            continue
        low, high = runs[min(runs)], runs[max(runs)]
        worst = max(m.inside_ms_per_result for m in runs.values())
        growth = _ratio(high.inside_ms_per_result, low.inside_ms_per_result)
        met = worst <= TARGET_MS and growth <= TARGET_GROWTH
        lines.append(
            f"- `{name}`: inside the run at most {worst:.1f} ms per result; "
            f"{max(runs)} trials ÷ {min(runs)}: {growth:.2f}× (whole run "
            f"{_ratio(high.ms_per_result, low.ms_per_result):.2f}×): "
            f"**{'met' if met else 'not met'}**"
        )
    return "\n".join(lines) + "\n"


def _ratio(high: float, low: float) -> float:
    """``high ÷ low``; not a number where a run too short to sample measured nothing."""
    return high / low if low > 0 else math.nan


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 epochs of 0.1 s, 4 at a time")
    parser.add_argument("--trials", type=int, nargs="+", help="these numbers of trials only")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="DIR")
    args = parser.parse_args(argv)
    setup = QUICK if args.quick else FULL
    if args.trials:
        setup = replace(setup, trials=tuple(args.trials))
    command = " ".join([".venv/bin/python", "benchmarks/driver_cost.py", *sys.argv[1:]])
    sys.path.insert(0, str(ROOT))  # the config's benchmarks.simulated:... resolve from the root

    import logging

    import ray

    began, load_before = time.perf_counter(), _load()
    ray.init(
        address="local",  # its own session, even where another benchmark's is running
        num_cpus=setup.concurrency,
        num_gpus=setup.concurrency,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    measured: list[Measured] = []
    try:
        with tempfile.TemporaryDirectory(prefix="driver-cost-") as folder:
            warm = replace(setup, epochs=1)
            measure("shipped", 1, warm, Path(folder))  # imports and the first actor
        for trials in setup.trials:
            for name in args.policies:
                if name != "shipped" and trials > (setup.forced_up_to or trials):
                    continue
                with tempfile.TemporaryDirectory(prefix="driver-cost-") as folder:
                    m = measure(name, trials, setup, Path(folder))
                print(
                    f"=== {trials} trials, {name}: {m.ms_per_result:.1f} ms/result "
                    f"(inside {m.inside_ms_per_result:.1f}), {m.snapshots} snapshots, "
                    f"{m.run.wall_s:.0f} s",
                    flush=True,
                )
                measured.append(m)
    finally:
        ray.shutdown()
    load = (load_before, _load())
    markdown = report(measured, setup, command, time.perf_counter() - began, load)
    path = write_result(RESULTS_FILE, markdown, args.out)
    print("\n" + markdown + f"\nWritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
