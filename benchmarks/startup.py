"""Start-up benchmark: from ``raytune-hp tune`` to the first trial's first epoch, broken down.

Each repetition runs ``raytune-hp tune configs/quickstart.yaml`` (2 trials of 2 epochs, a
temporary storage) in a fresh Python process whose steps are timestamped: the CLI's imports,
raytune-hp's and Ray's, loading the data, ``ray.init``, putting the data into Ray's object store
(``tune.with_parameters``), entering ``Tuner.fit``. After the run it reads when each Ray worker
process came up (the first line of its ``python-core-worker-*.log``), when the first trial's
first epoch was written (its TensorBoard event) and how long that epoch took inside the trial
(``time_this_iter_s``: building the model and one epoch), which leaves the trial's own start
(the actor's creation, its imports, the trainable and the data fetched from the object store).
A fresh interpreter's imports of what a trial process needs are timed apart. Each repetition
also runs the same command as raytune-hp ran it before (:data:`VARIANTS`: each trial in a new
worker process that imports torch and Ray Tune when its trial arrives, as with Ray Tune's
defaults), alternated with the shipped one, so the two are compared under the same load.
Results go to ``benchmarks/results/startup.md``.

Usage (from the repository root):
    .venv/bin/python benchmarks/startup.py              # 3 repetitions
    .venv/bin/python benchmarks/startup.py --repeats 5 --out /tmp/check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from common import ROOT, header, mean_se, write_result

RESULTS_FILE = "startup.md"
CONFIG = ROOT / "configs" / "quickstart.yaml"
NAME = "startup"
# The target: the first epoch at most this many seconds after Ray's own start.
MAX_AFTER_RAY_S = 3.0

# Runs in the child process: timestamps each step of `raytune-hp tune` into STAMPS_FILE.
CHILD = r"""
import json, os, sys, time
stamps = {"process": float(os.environ["STARTUP_T0"]), "python": time.time()}
def stamp(name): stamps[name] = time.time()
import raytune_hp.cli as cli
stamp("cli imported")
import raytune_hp.experiment
stamp("raytune_hp.experiment imported")
import ray
from ray import tune
stamp("ray and ray.tune imported")
from raytune_hp.user_code import UserCode
def timed(owner, attribute, name, after=None):
    original = getattr(owner, attribute)
    def wrapper(*args, **kwargs):
        stamp(name + " start")
        result = original(*args, **kwargs)
        stamp(name + " end")
        if after is not None:
            after()
        return result
    setattr(owner, attribute, wrapper)
def session():
    stamps["session"] = ray._private.worker._global_node.get_session_dir_path()
timed(ray, "init", "ray.init", session)
timed(UserCode, "dataset", "data load")
timed(tune, "with_parameters", "data to object store")
fit = tune.Tuner.fit
def fit_stamped(self):
    stamp("Tuner.fit start")
    return fit(self)
tune.Tuner.fit = fit_stamped
code = cli.main(sys.argv[1:])
stamp("exit")
with open(os.environ["STARTUP_STAMPS"], "w") as file:
    json.dump(stamps, file)
sys.exit(code)
"""

IMPORTS = r"""
import json, time
seconds = {}
for module in ("torch", "ray", "ray.tune", "raytune_hp.trainable"):
    start = time.perf_counter()
    __import__(module)
    seconds[module] = time.perf_counter() - start
print(json.dumps(seconds))
"""

_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def worker_starts(session: Path) -> dict[int, float]:
    """When each Ray worker process's core worker was constructed, by pid (its log's first
    line; Ray writes local time)."""
    starts = {}
    for path in (session / "logs").glob("python-core-worker-*.log"):
        with path.open() as file:
            match = _LOG_TIME.match(file.readline())
        if match:
            when = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
            starts[int(path.stem.rpartition("_")[2])] = when.timestamp()
    return starts


def first_epoch(folder: Path) -> tuple[float, float, int]:
    """The first epoch any trial wrote: its TensorBoard time, its ``time_this_iter_s``, pid."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    best = (math.inf, math.nan, 0)
    for path in folder.rglob("result.json"):
        first = json.loads(path.read_text().splitlines()[0])
        for events in path.parent.rglob("events.out.tfevents.*"):
            for event in EventFileLoader(str(events)).Load():
                if event.step == first["epoch"] and any(
                    value.tag == "val_acc" for value in event.summary.value
                ):
                    best = min(best, (event.wall_time, first["time_this_iter_s"], first["pid"]))
    return best


VARIANTS = {
    "shipped": {},
    "a new worker per trial": {"PL_DISABLE_FORK": "0"},
}
"""raytune-hp as shipped, and as before: given a value of the user's own for the variable Tune
sets in each trial's runtime environment, each trial waits for a worker process of its own, as
with Ray Tune's defaults."""


def one_run(python: str, settings: dict[str, str] | None = None) -> dict[str, float]:
    """One ``raytune-hp tune`` run (with the environment ``settings``); every step in seconds
    from the process's start."""
    with tempfile.TemporaryDirectory(prefix="startup-") as folder:
        stamps_file = Path(folder) / "stamps.json"
        storage = Path(folder) / "runs"
        environment = dict(os.environ, STARTUP_STAMPS=str(stamps_file), PYTHONPATH=str(ROOT))
        environment.update(settings or {})
        argv = [python, "-c", CHILD, "tune", str(CONFIG), "--name", NAME, "--storage"]
        argv += [str(storage), "--set", "search.num_samples=2", "--set", "train.max_epochs=2"]
        environment["STARTUP_T0"] = repr(time.time())
        subprocess.run(argv, env=environment, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        stamps = json.loads(stamps_file.read_text())
        epoch_at, epoch_s, pid = first_epoch(storage / NAME)
        workers = worker_starts(Path(stamps.pop("session")))
    t0 = stamps["process"]
    steps = {name: at - t0 for name, at in stamps.items()}
    fit = stamps["Tuner.fit start"]
    steps["workers up before fit"] = sum(at < fit for at in workers.values())
    steps["workers up by first epoch"] = sum(at < epoch_at for at in workers.values())
    steps["trial worker up"] = workers.get(pid, math.nan) - t0
    steps["trial function start"] = epoch_at - epoch_s - t0
    steps["first epoch written"] = epoch_at - t0
    steps["first epoch's own seconds"] = epoch_s
    return steps


def _mean_se(values: list[float]) -> str:
    mean, se = mean_se(values)
    return f"{mean:.2f}" if math.isnan(se) else f"{mean:.2f} ± {se:.2f}"


def comparison_markdown(variants: dict[str, list[dict[str, float]]]) -> list[str]:
    """Seconds after ``ray.init`` returned, per variant: mean ± standard error."""
    lines = [
        "## Trials in the session's pre-started workers, against a new worker per trial",
        "",
        "The same command, alternated in this invocation; seconds after `ray.init` returned, "
        "mean ± standard error over the runs. Shipped: trials run in the workers Ray starts "
        "with a local session. `a new worker per trial` (`PL_DISABLE_FORK=0`): as before, and "
        "as with Ray Tune's defaults, each trial's actor carries a runtime environment those "
        "workers lack, so it waits for a new process.",
        "",
        "| variant | runs | first trial's function entered | first epoch written |",
        "|---|---|---|---|",
    ]
    for name, runs in variants.items():
        entered = [run["trial function start"] - run["ray.init end"] for run in runs]
        written = [run["first epoch written"] - run["ray.init end"] for run in runs]
        lines.append(f"| {name} | {len(runs)} | {_mean_se(entered)} | {_mean_se(written)} |")
    return [*lines, ""]


def report_markdown(
    runs: list[dict[str, float]],
    imports: dict[str, float],
    command: str,
    others: dict[str, list[dict[str, float]]] | None = None,
) -> str:
    """Every step's mean over the runs, the target, and the runs of ``others`` (variants) set
    beside them."""

    def mean(key: str) -> float:
        return statistics.fmean(run[key] for run in runs)

    def row(step: str, key: str, since: str | None) -> str:
        phase = f"{mean(key) - mean(since):.2f}" if since else ""
        return f"| {step} | {mean(key):.2f} | {phase} |"

    after_ray = mean("first epoch written") - mean("ray.init end")
    lines = [
        *header("Start-up: from `raytune-hp tune` to the first epoch", command),
        f"- Run: `raytune-hp tune configs/quickstart.yaml --set search.num_samples=2 --set "
        f"train.max_epochs=2`, a temporary storage, a fresh Ray; {len(runs)} repetitions",
        "- Load average (1, 5, 15 min) at the end: "
        + ", ".join(f"{load:.1f}" for load in os.getloadavg())
        + " (above 2 on 2 cores: others' work shared the machine; Ray's workers run 15 steps "
        "nicer than the driver, as Ray starts them)",
        "",
        "Seconds from the process's start (mean over the runs); the last column is the step's "
        "own seconds, since the line it names. The worker times come from Ray's "
        "`python-core-worker-*.log` (its first line: the core worker constructed, after its "
        "interpreter started and imported Ray); the trial function's start is the first "
        "epoch's TensorBoard time less its `time_this_iter_s`.",
        "",
        "| step | at s | its own s |",
        "|---|---|---|",
        row("interpreter up", "python", None),
        row("`raytune_hp.cli` imported", "cli imported", "python"),
        row("`raytune_hp.experiment` imported", "raytune_hp.experiment imported", "cli imported"),
        row(
            "`ray`, `ray.tune` imported",
            "ray and ray.tune imported",
            "raytune_hp.experiment imported",
        ),
        row("data loaded (digits)", "data load end", "data load start"),
        row("`ray.init` returned (Ray's start)", "ray.init end", "ray.init start"),
        row("data in the object store", "data to object store end", "data to object store start"),
        row("`Tuner.fit` entered", "Tuner.fit start", "data to object store end"),
        row("first trial's worker process up", "trial worker up", "Tuner.fit start"),
        row(
            "first trial's function entered",
            "trial function start",
            "trial worker up",
        ),
        row("first epoch written", "first epoch written", "trial function start"),
        "",
        f"Workers up before `Tuner.fit`: {mean('workers up before fit'):.1f} (Ray's "
        f"pre-started pool); by the first epoch: {mean('workers up by first epoch'):.1f}.",
        "",
        "A fresh interpreter's imports (seconds, in this order): "
        + ", ".join(f"`{module}` {seconds:.2f}" for module, seconds in imports.items())
        + ".",
        "",
        "| target | met | measured |",
        "|---|---|---|",
        f"| first epoch ≤ {MAX_AFTER_RAY_S:g} s after Ray's own start "
        f"| {'yes' if after_ray <= MAX_AFTER_RAY_S else '**no**'} "
        f"| {after_ray:.2f} s from `ray.init` returning to the first epoch written |",
        "",
        *(comparison_markdown({"shipped": runs, **others}) if others else []),
        "## Every run (as shipped)",
        "",
        "| run | ray.init s | fit entered | worker up | function entered | first epoch |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {i} | {run['ray.init end'] - run['ray.init start']:.2f} | {run['Tuner.fit start']:.2f} "
        f"| {run['trial worker up']:.2f} | {run['trial function start']:.2f} "
        f"| {run['first epoch written']:.2f} |"
        for i, run in enumerate(runs)
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs (default: 3)")
    parser.add_argument("--out", type=Path, help="folder for startup.md (default: results)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be an integer ≥ 1; got {args.repeats}")
    command = " ".join([".venv/bin/python", "benchmarks/startup.py", *sys.argv[1:]])
    imports = json.loads(
        subprocess.run(
            [sys.executable, "-c", IMPORTS],
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    variants: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for i in range(args.repeats):
        for name, settings in VARIANTS.items():
            run = one_run(sys.executable, settings)
            variants[name].append(run)
            after = run["first epoch written"] - run["ray.init end"]
            print(f"run {i} ({name}): first epoch {after:.2f} s after ray.init", flush=True)
    shipped = variants.pop("shipped")
    markdown = report_markdown(shipped, imports, command, variants)
    path = write_result(RESULTS_FILE, markdown, *([args.out] if args.out else []))
    print("\n" + markdown)
    print(f"Written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
