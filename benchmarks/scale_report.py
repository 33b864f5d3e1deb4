"""The scale benchmark's report: its tables, the target met or not and why, its plot.

Everything here reads the runs :mod:`scale` measured (:class:`scale.Run`) and writes nothing:
:func:`report_markdown` is the whole of ``results/scale.md`` (the set-up, throughput and
utilization per run, CPU per result by process, how the driver's cost grows with the trials, the
``PersistentASHA`` costs, and the profiled run's hot spots), :func:`plot` is ``results/scale.png``.

Example::

    markdown = report_markdown(runs, costs, plan, command, runtime_s)
    plot(runs, plan).savefig("scale.png", dpi=110)
"""

from __future__ import annotations

import os
import pstats
import re
import statistics
from typing import TYPE_CHECKING, Any

from asha_cost import AshaCost, asha_table
from common import ROOT, header
from proc_sampler import KINDS, SAMPLE_S

if TYPE_CHECKING:  # scale imports this module to write its report
    from scale import Plan, Run

# The target: 32 concurrent trials of >= 2 s keep their slots >= 90 % busy.
TARGET_CONCURRENCY, TARGET_UTILIZATION, TARGET_TRIAL_S = 32, 0.9, 2.0


def num(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or a dash where there is none."""
    return "—" if value is None else f"{value:.{digits}f}"


def _median_ms(values: list[float]) -> str:
    """``median / p90`` of ``values`` (seconds) in milliseconds, or a dash."""
    if not values:
        return "—"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"{statistics.median(ordered) * 1000:.0f} / {p90 * 1000:.0f}"


def throughput_table(runs: list[Run]) -> list[str]:
    """One row per run: trials per minute, utilization, start-up, memory."""
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
            f"| {num(r.steady_utilization)} | {r.peak_concurrency} | {len(r.actor_starts)} "
            f"| {r.workers_started} | {r.startup_s:.1f} | {r.actor_startup_cpu_s:.1f} "
            f"| {r.reports_s:.1f} | {r.min_available_gib:.1f} |"
        )
    return lines


def cost_table(runs: list[Run]) -> list[str]:
    """One row per run: the driver's and the trials' CPU per result, the report gaps."""
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
    """One row per run with a steady window: CPU ms per result by kind of process."""
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
    """One row per run: the driver's CPU per result by quarter, the experiment state's size."""
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
    (
        "`PersistentASHA.on_trial_result`",
        "raytune_hp/early_stopping/persistent_asha.py",
        "on_trial_result",
    ),
    ("  of which rungs written", "raytune_hp/early_stopping/persistent_asha.py", "_save_rungs"),
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
        f"{num(steady)} in the steady state, {plan.epochs} epochs × {plan.epoch_seconds} s).",
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
    """The whole of ``scale.md``: the set-up, the tables, the target, and the profiles."""
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
            "`PersistentASHA` alone (`raytune_hp/early_stopping/persistent_asha.py`), fed the fake "
            f"results of trials of {plan.epochs} epochs, {TARGET_CONCURRENCY} at a time, rungs "
            "written to a local folder:",
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
