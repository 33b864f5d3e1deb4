"""The scale benchmark's report: its tables, the target met or not and why, the projection of the
largest cluster one driver serves, its plot.

Everything here reads the runs :mod:`scale` measured (:class:`scale.Run`) and writes nothing:
:func:`report_markdown` is the whole of ``results/scale.md`` (the set-up, the start-up and the
steady state per run, CPU per result by process, the target, the projection, the
``PersistentASHA`` costs), :func:`plot` is ``results/scale.png``.

Example::

    markdown = report_markdown(runs, costs, plan, command, runtime_s)
    plot(runs).savefig("scale.png", dpi=110)
"""

from __future__ import annotations

import math
import os
import statistics
from typing import TYPE_CHECKING, Any

from asha_cost import AshaCost, asha_table
from common import header, load_line
from proc_sampler import KINDS, SAMPLE_S

if TYPE_CHECKING:  # scale imports this module to write its report
    from scale import Plan, Run

# The target: 32 concurrent simulated trials of 2 s epochs keep their slots >= 95 % busy
# once they all run.
TARGET_CONCURRENCY, TARGET_UTILIZATION, TARGET_EPOCH_S = 32, 0.95, 2.0
# The projection's cluster: workers whose epochs last a minute; the ASHA paper's 500 workers
# (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020).
PROJECTED_EPOCH_S, ASHA_PAPER_WORKERS = 60.0, 500
# How busy Tune's single-threaded loop may be kept: at 1.0 results queue without bound.
LOOP_SHARES = (0.5, 1.0)


def num(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or a dash where there is none."""
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _median_ms(values: list[float]) -> str:
    """``median / p90`` of ``values`` (seconds) in milliseconds, or a dash."""
    if not values:
        return "—"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:.0f} / {p90 * 1000:.0f}"


def startup_table(runs: list[Run]) -> list[str]:
    """One row per run: how long until the first and until every trial ran, and what started."""
    lines = [
        "| run | slots | epoch s | first trial's first epoch, s | every trial running, s "
        "| Ray worker processes per node (of which trained) | started during the run "
        "| CPU s per actor start | machine busy until all run (cores) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        nodes = ", ".join(
            f"{'head ' if head else ''}{seen} ({trained})"
            for head, seen, trained in r.workers_per_node()
        )
        lines.append(
            f"| {r.spec.label} | {r.spec.concurrency} | {r.spec.epoch_seconds:g} "
            f"| {r.first_epoch_s:.1f} | {r.all_running_s:.1f} | {nodes} | {r.workers_started} "
            f"| {r.actor_startup_cpu_s:.1f} | {r.startup_busy_cores():.2f} |"
        )
    return lines


def steady_table(runs: list[Run]) -> list[str]:
    """One row per run: the steady window's utilization, results per second, and costs."""
    lines = [
        "| run | window s | results | results/s | **utilization** | report gap ms "
        "(median / p90) | driver CPU ms/result (main thread) | all processes' CPU ms/result "
        "| machine busy (cores) | of which others' work |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        used, results = r.steady_cpu()
        per = 1000 / max(1, results)
        driver, main = r.driver_ms_per_result()
        ours = sum(used[k] for k in KINDS if k != "rest of machine") * per
        seconds = max(1e-9, used["seconds"])
        lines.append(
            f"| {r.spec.label} | {r.window_s:.1f} | {len(r.inside())} | {r.results_per_s:.1f} "
            f"| **{r.utilization:.3f}** | {_median_ms(r.report_gaps())} "
            f"| {driver:.1f} ({main:.1f}) | {ours:.1f} | {used['machine'] / seconds:.2f} "
            f"| {used['rest of machine'] / seconds:.2f} |"
        )
    return lines


def cpu_by_process_table(runs: list[Run]) -> list[str]:
    """One row per run: CPU ms per result by kind of process in the steady window."""
    lines = [
        "| run | window s | results | " + " | ".join(KINDS) + " | machine |",
        "|---|---|---|" + "---|" * (len(KINDS) + 1),
    ]
    for r in runs:
        used, results = r.steady_cpu()
        per = 1000 / max(1, results)
        cells = " | ".join(f"{used[k] * per:.1f}" for k in (*KINDS, "machine"))
        lines.append(f"| {r.spec.label} | {used['seconds']:.1f} | {results} | {cells} |")
    return lines


def target_lines(runs: list[Run]) -> list[str]:
    """Whether 32 concurrent trials of 2 s epochs keep their slots ≥ 95 % busy, and why not."""
    top = [
        r
        for r in runs
        if r.spec.concurrency == TARGET_CONCURRENCY and r.spec.epoch_seconds == TARGET_EPOCH_S
    ]
    if not top:
        return ["Target not measured: no run of 32 concurrent trials of 2 s epochs."]
    r = top[0]
    met = r.utilization >= TARGET_UTILIZATION
    gaps = r.report_gaps()
    gap = statistics.mean(gaps) if gaps else math.nan
    lines = [
        f"**Target: steady-state utilization ≥ {TARGET_UTILIZATION} with {TARGET_CONCURRENCY} "
        f"concurrent simulated trials of {TARGET_EPOCH_S:g} s epochs: "
        f"{'met' if met else 'not met'}** ({r.spec.label}: {r.utilization:.3f} over a "
        f"{r.window_s:.0f} s window, {len(r.inside())} results).",
        "",
        f"- What the slots lose in the steady state is the report's round trip: a mean "
        f"{gap * 1000:.0f} ms between one epoch's end and the next's start, against "
        f"{r.spec.epoch_seconds:g} s of epoch (1 − {r.spec.epoch_seconds:g} / "
        f"({r.spec.epoch_seconds:g} + {gap:.3f}) = "
        f"{1 - r.spec.epoch_seconds / (r.spec.epoch_seconds + gap):.3f} of each slot).",
        f"- Start-up is apart: every trial ran {r.all_running_s:.0f} s after the call (the first "
        f"after {r.first_epoch_s:.0f} s): {len(r.worker_node)} Ray worker processes on the nodes, "
        f"each actor {r.actor_startup_cpu_s:.1f} CPU s to boot and import torch, Ray Tune and "
        f"raytune-hp, on {os.cpu_count()} cores. On a real cluster every node brings its own "
        "cores for its own actors.",
    ]
    return lines


def _fit(runs: list[Run]) -> tuple[float, float] | None:
    """Least squares ``ms = a + b × slots`` of the driver main thread's CPU per result over the
    runs of the target's epoch (a falling slope returned as 0), or ``None`` with fewer than two
    levels."""
    points = [
        (r.spec.concurrency, r.driver_ms_per_result()[1])
        for r in runs
        if r.spec.epoch_seconds == TARGET_EPOCH_S
    ]
    if len({c for c, _ in points}) < 2:
        return None
    xs, ys = [c for c, _ in points], [ms for _, ms in points]
    slope, intercept = statistics.linear_regression(xs, ys)
    return intercept, max(0.0, slope)


def largest_cluster(intercept_ms: float, slope_ms: float, epoch_s: float, share: float) -> float:
    """Workers of ``epoch_s`` epochs whose results keep ``share`` of Tune's loop busy, when a
    result costs ``intercept_ms + slope_ms × workers`` of it: ``W / epoch_s`` results per second
    × that cost = ``share`` × 1000 ms per second.

    >>> round(largest_cluster(5.0, 0.0, 60.0, 1.0))
    12000
    """
    budget = share * 1000 * epoch_s
    if slope_ms <= 0:
        return budget / intercept_ms
    return (-intercept_ms + math.sqrt(intercept_ms**2 + 4 * slope_ms * budget)) / (2 * slope_ms)


def projection_lines(runs: list[Run]) -> list[str]:
    """The largest cluster one driver keeps busy, on paper, from the measured cost per result."""
    fit = _fit(runs)
    if fit is None:
        return ["No projection: fewer than two levels of 2 s epochs were run."]
    a, b = fit
    levels = sorted(
        (r for r in runs if r.spec.epoch_seconds == TARGET_EPOCH_S),
        key=lambda r: r.spec.concurrency,
    )
    costs = [r.driver_ms_per_result()[1] for r in levels]
    measured = ", ".join(
        f"{ms:.1f} ms at {r.spec.concurrency}" for r, ms in zip(levels, costs, strict=True)
    )
    top = levels[-1]
    top_ms, highest = costs[-1], max(costs)
    process_ms = top.driver_ms_per_result()[0]
    # (what the cost per result is taken to be, its intercept and slope per worker in ms)
    scenarios = [(f"flat at the highest measured, {highest:.1f} ms", highest, 0.0)]
    if b > 0:
        scenarios.insert(0, (f"growing as fitted, {a:.2f} + {b:.4f} × workers ms", a, b))
    if top_ms != highest:
        scenarios.append((f"flat at {top.spec.concurrency} slots', {top_ms:.1f} ms", top_ms, 0.0))
    lines = [
        "Tune's loop runs on the driver's main thread, one result at a time: its CPU per result "
        f"is what caps one driver. Measured in the steady windows: {measured} ("
        + (
            f"a line through them: {a:.2f} + {b:.4f} × slots ms"
            if b > 0
            else "it did not grow with the slots"
        )
        + "). At "
        f"{top.spec.concurrency} slots one driver's loop serves at most about "
        f"{1000 / top_ms:.0f} results/s with its main thread always busy "
        f"({1000 / process_ms:.0f}/s per core of the whole driver process, Ray's threads "
        f"included); it served {top.results_per_s:.1f}/s here, its main thread "
        f"{top.results_per_s * top_ms / 1000:.2f} busy.",
        "",
        f"Largest cluster of workers with {PROJECTED_EPOCH_S:g} s epochs (one report per epoch) "
        "whose results one driver's loop keeps up with:",
        "",
        "| cost per result in Tune's loop | workers, loop half busy | workers, loop always busy |",
        "|---|---|---|",
    ]
    for label, intercept, slope in scenarios:
        half, full = (largest_cluster(intercept, slope, PROJECTED_EPOCH_S, s) for s in LOOP_SHARES)
        lines.append(f"| {label} | {half:,.0f} | {full:,.0f} |")
    paper = ASHA_PAPER_WORKERS
    _, intercept, slope = scenarios[0]  # the costliest
    paper_ms = intercept + slope * paper
    shortest = paper * paper_ms / 1000 / LOOP_SHARES[0]
    lines += [
        "",
        f"The ASHA paper's {paper} workers (Li et al., MLSys 2020) with {PROJECTED_EPOCH_S:g} s "
        f"epochs send {paper / PROJECTED_EPOCH_S:.1f} results/s; at {paper_ms:.1f} ms each "
        f"(the costliest line above) that keeps Tune's loop "
        f"{paper / PROJECTED_EPOCH_S * paper_ms / 1000:.0%} busy. One driver serves {paper} "
        f"workers with its loop at most half busy as long as their epochs last ≥ {shortest:.1f} s.",
        "",
        "On paper only: the costs are from the levels above, on one 2-core machine shared by the "
        "trials' processes and others' jobs, with no early stopping (with ASHA, "
        "`PersistentASHA` adds its own cost per result in the same loop: see its table below); "
        "the driver's whole cost per result, Tune's snapshots of its state included, as the "
        "trials an experiment has held grow from 10 to 1,000 is in "
        "`benchmarks/results/driver_cost.md`; and real workers add network round trips, which "
        "lengthen the report gap but cost the driver no CPU.",
    ]
    return lines


def plot(runs: list[Run]) -> Any:
    """Steady-state utilization and the start-up against the slots, for the 2 s runs."""
    from matplotlib.figure import Figure

    levels = sorted(
        (r for r in runs if r.spec.epoch_seconds == TARGET_EPOCH_S),
        key=lambda r: r.spec.concurrency,
    )
    xs = [r.spec.concurrency for r in levels]
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot(xs, [r.utilization for r in levels], "o-", label="steady state")
    left.axhline(TARGET_UTILIZATION, color="tab:red", lw=1, ls=":", label="target")
    left.set(xlabel="concurrent trials (slots)", ylabel="utilization", ylim=(0.8, 1.0))
    left.set_title(f"Steady-state utilization ({TARGET_EPOCH_S:g} s epochs)")
    right.plot(xs, [r.all_running_s for r in levels], "o-", label="every trial running")
    right.plot(xs, [r.first_epoch_s for r in levels], "s--", label="first trial's first epoch")
    right.set(xlabel="concurrent trials (slots)", ylabel="seconds from the call")
    right.set_title(f"Start-up on {os.cpu_count()} cores")
    for ax in (left, right):
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def report_markdown(
    runs: list[Run], costs: list[AshaCost], plan: Plan, command: str, runtime_s: float
) -> str:
    """The whole of ``scale.md``: the set-up, the tables, the target, and the projection."""
    slots = plan.nodes * plan.gpus_per_node
    quick = "--quick" in command
    mode = (
        f"quick (`--quick`, what `make bench` runs): {', '.join(map(str, plan.levels))} slots, "
        f"{plan.steady_s:g} s steady windows; the full mode runs 8, 16 and 32 slots, 60 s "
        "windows, and 32 trials of 10 s epochs too"
        if quick
        else None
    )
    lines = [
        *header(
            "Scale benchmark: simulated trials on a fake-GPU Ray cluster",
            command,
            packages=("torch", "ray", "hyperopt"),
            mode=mode,
        ),
        load_line(),
        f"- Cluster: `ray.cluster_utils.Cluster` on this machine: a head with 0 CPUs and 0 GPUs "
        f"(runs no trials, holds the driver) and {plan.nodes} worker nodes with "
        f"{plan.gpus_per_node} fake GPUs and {plan.gpus_per_node} CPUs each ({slots} slots); "
        "Ray's workers at the script's priority (`RAY_worker_niceness=0`); storage a local "
        "temporary folder with `shared_storage: true`, one per run",
        "- Trial: `benchmarks/simulated.py` through raytune-hp's own run path (`run_experiment`, "
        "its trainable, one report and raytune-hp's checkpoint per epoch, actors reused, JSON "
        "and CSV loggers, TensorBoard); no training: each epoch a sleep; 1 fake GPU and 1 CPU per "
        "trial; random search, seed 0, no early stopping",
        "- Each run starts one trial per slot; about the steady window's length after the last "
        "trial began, the script writes a file after which each trial ends at its next epoch's "
        "end",
        f"- Runs, in this order: {', '.join(r.spec.label for r in runs)} (slots × epoch); a "
        "1-trial warm-up first (not shown) so that the driver's imports are not charged to the "
        "first run",
        f"- Total runtime of the script: {runtime_s:.0f} s",
        "",
        "## Start-up",
        "",
        "Seconds from `run_experiment`'s call. Ray worker processes per node: those seen on the "
        "node during the run (Ray's idle pool included) and, in brackets, those whose actor "
        "trained, the head (which runs no trials) first; started during the run: those that "
        "appeared after it began. CPU s per actor start: median CPU seconds of an actor's "
        "process by the end of its first epoch.",
        "",
        *startup_table(runs),
        "",
        "## Steady state",
        "",
        "The window runs from the moment the last trial began its first epoch to the moment the "
        "first trial ended its last: every slot holds a running trial throughout. Utilization = "
        "busy trial-seconds (the sleeps, from the trials' own clocks) ÷ slot-seconds (slots × "
        "window). Report gap: inside a trial, from one epoch's end to the next's start. Driver: "
        "this process (Tune's loop in its main thread, Ray's core-worker threads beside it). "
        "Others' work: CPU of processes this script did not start (the machine is shared).",
        "",
        *steady_table(runs),
        "",
        *target_lines(runs),
        "",
        "![steady-state utilization and start-up against the slots](scale.png)",
        "",
        "CPU ms per result by process, in each run's steady window (`/proc/<pid>/stat` every "
        f'{SAMPLE_S} s; "rest of machine" is everything this script did not start):',
        "",
        *cpu_by_process_table(runs),
        "",
        "## The largest cluster one driver serves, on paper",
        "",
        *projection_lines(runs),
    ]
    if costs:
        lines += [
            "",
            "## `PersistentASHA` alone",
            "",
            "`raytune_hp/early_stopping/persistent_asha.py` fed the fake results of trials of 8 "
            f"epochs, {TARGET_CONCURRENCY} at a time, rungs written to a local folder:",
            "",
            *asha_table(costs),
        ]
    return "\n".join(lines) + "\n"
