"""Records the learning curves of the tabular search benchmark, once: every configuration of every
task (:mod:`curve_tasks`) trained with raytune-hp's own loop, its validation metric and training
seconds after every epoch, to ``benchmarks/data/curves_<task>.csv.gz``.

Each configuration trains with :func:`raytune_hp.trainable.train` (what a trial runs, without
Ray), torch seed 0 and one torch thread, so a configuration's curve is the same whoever asks.
The seconds are the process's CPU seconds since the trial began (building the model included),
which on one thread are its training seconds whatever else the machine runs.

Resumable: finished configurations are appended to ``curves_<task>.partial.csv`` as they end, and
a killed run picks up where it stopped; when a task's last configuration is in, the compressed
file is written and the partial one removed. Asking for more configurations (``--configs``) than
a finished file holds trains only the new ones.

Usage (from the repository root; about 50 minutes on 2 cores)::

    nice -n 15 .venv/bin/python benchmarks/record_curves.py --jobs 2
    .venv/bin/python benchmarks/record_curves.py --task digits_cnn --configs 8 --out /tmp/probe
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from curve_tasks import (
    DATA,
    RECORD_COMMAND,
    TASKS,
    Curve,
    CurveTask,
    configurations,
    format_row,
    header_row,
    hp_columns,
    parse_rows,
    read_curves,
    write_curves,
)

_DATA_CACHE: dict[str, Any] = {}


def task_data(name: str) -> Any:
    """The task's data set, built once per process."""
    if name in _DATA_CACHE:
        return _DATA_CACHE[name]
    import numpy as np
    import torch

    from raytune_hp.data import Dataset, as_dataset, load_data

    if name.startswith("digits"):
        digits = load_data("digits", 0.2, seed=0)
        order = np.random.default_rng(0).permutation(len(digits.x_train))
        train, rest = order[:300], order[300:]
        x_val = torch.cat([digits.x_train[rest], digits.x_val])
        y_val = torch.cat([digits.y_train[rest], digits.y_val])
        if name == "digits_cnn":  # validating a CNN is most of its cost: 600 images suffice
            keep = np.random.default_rng(1).permutation(len(x_val))[:600]
            x_val, y_val = x_val[keep], y_val[keep]
        data = Dataset(digits.x_train[train], digits.y_train[train], x_val, y_val, 10)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from examples.diabetes import load

        data = as_dataset(load(0.25, 0), "examples.diabetes:load", task="regression")
    _DATA_CACHE[name] = data
    return data


def train_curve(job: tuple[str, int, str, dict[str, Any]]) -> tuple[str, Curve, float]:
    """Trains one configuration; ``(task, curve, wall seconds)``."""
    import torch

    from raytune_hp.trainable import TrialSettings, train

    name, index, source, hp = job
    task = TASKS[name]
    config = task.config()
    torch.set_num_threads(1)
    settings = TrialSettings(
        config.model.name,
        config.train.max_epochs,
        seed=0,
        cpu_threads=1,
        task=config.train.task,
        metric=config.train.metric,
    )
    data = task_data(name)
    metric: list[float] = []
    seconds: list[float] = []
    folder = tempfile.mkdtemp(prefix="curve-")
    wall, cpu = time.perf_counter(), time.process_time()

    def report(metrics: dict[str, Any], _: dict[str, Any]) -> None:
        metric.append(float(metrics[config.train.metric]))
        seconds.append(time.process_time() - cpu)

    try:
        train(hp, data, settings, folder, report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return name, Curve(index, source, hp, tuple(metric), tuple(seconds)), time.perf_counter() - wall


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def comments(task: CurveTask) -> list[str]:
    config = task.config()
    return [
        f"raytune-hp tabular benchmark task {task.name}: {task.data}",
        f"{config.train.max_epochs} epochs, metric {config.train.metric} ({config.train.mode}) "
        "after every epoch (m1..), cumulative training CPU seconds on one torch thread (s1..)",
        "trained with raytune_hp.trainable.train, torch seed 0; even ids from the tables' space, "
        "odd ids from the wide ranges (benchmarks/curve_tasks.py)",
        f"command: {RECORD_COMMAND}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", choices=list(TASKS), help="default: all")
    parser.add_argument("--configs", type=int, help="per task (default: each task's own count)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DATA, help="folder of the files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.task or list(TASKS)

    done: dict[str, list[Curve]] = {}
    jobs: list[tuple[str, int, str, dict[str, Any]]] = []
    partials: dict[str, Path] = {}
    for name in names:
        task = TASKS[name]
        final, partial = args.out / task.path.name, args.out / f"curves_{name}.partial.csv"
        partials[name] = partial
        curves = read_curves(final)[1] if final.exists() else []
        if partial.exists():
            text = partial.read_text()
            if not text.endswith("\n"):  # a run killed while writing a row: that row goes
                text = text[: text.rfind("\n") + 1]
                partial.write_text(text)
            curves += parse_rows(text.splitlines())
        done[name] = curves
        have = {c.id for c in curves}
        wanted = list(configurations(task, args.configs))
        todo = [(name, i, source, hp) for i, source, hp in wanted if i not in have]
        jobs += todo
        columns = hp_columns(task.config().search_space())
        if not partial.exists():
            with partial.open("w", newline="") as handle:
                csv.writer(handle).writerow(header_row(columns, task.config().train.max_epochs))
        print(f"{name}: {len(have)} recorded, {len(todo)} to train")

    # Interleaved, so a task's expensive configurations do not all land at the end.
    jobs.sort(key=lambda job: (job[1], names.index(job[0])))
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(args.jobs, initializer=_worker_init) as pool:
        for count, (name, curve, wall) in enumerate(pool.imap_unordered(train_curve, jobs), 1):
            task = TASKS[name]
            epochs = task.config().train.max_epochs
            columns = hp_columns(task.config().search_space())
            with partials[name].open("a", newline="") as handle:
                csv.writer(handle).writerow(format_row(curve, columns, epochs))
            done[name].append(curve)
            elapsed = time.perf_counter() - began
            print(
                f"[{count}/{len(jobs)} {elapsed:.0f}s] {name} #{curve.id}: "
                f"{len(curve.metric)} epochs, final {curve.metric[-1]:.4f}, "
                f"{curve.seconds[-1]:.1f} cpu s, {wall:.1f} wall s",
                flush=True,
            )

    for name in names:
        task = TASKS[name]
        config = task.config()
        unique = {c.id: c for c in done[name]}
        path = args.out / task.path.name
        write_curves(
            path,
            comments(task),
            hp_columns(config.search_space()),
            config.train.max_epochs,
            list(unique.values()),
        )
        partials[name].unlink(missing_ok=True)
        print(f"{name}: {len(unique)} curves → {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
