"""The recorded tasks of the tabular search benchmark: what each trains, over which space, and the
file format of its learning curves.

A task is a raytune-hp config (the space the searchers see, the epoch budget, the metric) and a
small data set bundled with scikit-learn. :mod:`record_curves` trains several hundred
configurations of each task once, every epoch's validation metric and training seconds written to
``benchmarks/data/curves_<task>.csv.gz``; :mod:`tabular` replays searches on them.

Half of a task's configurations come from the tables' space (``load_config(...).search_space()``
sampled by :func:`raytune_hp.spaces.sample`), half from :func:`wide_ranges`, the wider hard ranges
the issue's ``space.bounds: wide`` names (lr ÷10 and ×10 per optimizer, batch size 16..1024,
dropout 0..0.8, weight decay 1e-6..1e-1 on a log scale, counts and depths half a range further
each way), so that a search over either space, or one that leaves the tables, meets recorded
configurations wherever it goes.

Example:
    >>> space = task_config("digits_mlp").search_space()
    >>> ranges = wide_ranges(space)
    >>> ranges["lr@adam"], ranges["dropout"], ranges["num_layers"]
    (('log', 0.0001, 0.1), ('float', 0.0, 0.8), ('int', 1, 6))
    >>> sorted(wide_sample(space, seed=0))
    ['batch_size', 'dropout', 'hidden_size', 'lr', 'num_layers', 'optimizer', 'weight_decay']
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.spaces import LR, OPTIMIZER, OPTIMIZERS, TABLES, SearchSpace, sample

# The diabetes task's loader is `examples.diabetes:load`, imported as the command imports a
# user's module: from the repository root, whichever folder the benchmark runs from.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATA = Path(__file__).resolve().parent / "data"
RECORD_COMMAND = "nice -n 15 .venv/bin/python benchmarks/record_curves.py --jobs 2"


@dataclass(frozen=True)
class CurveTask:
    """One recorded task: its config (the space and epoch budget the searchers see), its data,
    and how many configurations are recorded."""

    name: str
    config_text: str
    data: str  # in words, for tables and the file's header
    configs: int

    def config(self, overrides: tuple[str, ...] = ()) -> ExperimentConfig:
        return load_config(f"{self.name}.yaml", overrides=list(overrides), text=self.config_text)

    @property
    def path(self) -> Path:
        return DATA / f"curves_{self.name}.csv.gz"


# Categorical variety is kept small (a few optimizers, one kernel size) so that every
# combination of categorical values has dozens of recorded configurations to snap to.
TASKS: dict[str, CurveTask] = {
    "digits_mlp": CurveTask(
        "digits_mlp",
        """
name: digits-mlp
seed: 0
data: {name: digits}
model: {name: mlp}
train: {max_epochs: 50, metric: val_acc}
space:
  optimizer: [adam, momentum, sgd]
  batch_size: {low: 16, high: 1024}
  hidden_size: {low: 64, high: 512}
search: {strategy: bayes, num_samples: 30}
""",
        "scikit-learn's digits: 300 training images, validated on the other 1,497; MLP",
        1200,
    ),
    "digits_cnn": CurveTask(
        "digits_cnn",
        """
name: digits-cnn
seed: 0
data: {name: digits}
model: {name: cnn}
train: {max_epochs: 30, metric: val_acc}
space:
  optimizer: [adam, momentum]
  kernel_size: 3
  batch_size: {low: 16, high: 1024}
  num_kernels: {low: 100, high: 300}
search: {strategy: bayes, num_samples: 30}
""",
        "scikit-learn's digits: 300 training images (8×8), validated on 600 others; CNN",
        400,
    ),
    "diabetes_mlp": CurveTask(
        "diabetes_mlp",
        """
name: diabetes-mlp
seed: 0
data: {loader: "examples.diabetes:load", val_fraction: 0.25}
model: {name: mlp}
train: {task: regression, max_epochs: 60, metric: val_loss}
space:
  optimizer: [adam, momentum, sgd]
  batch_size: {low: 16, high: 1024}
  hidden_size: {low: 64, high: 512}
search: {strategy: bayes, num_samples: 30}
""",
        "scikit-learn's diabetes (examples/diabetes.py): 331 training patients, 111 validating; "
        "MLP regression, val_loss = MSE of the standardized target",
        1000,
    ),
}


def task_config(name: str, overrides: tuple[str, ...] = ()) -> ExperimentConfig:
    """Task ``name``'s config with ``--set``-style ``overrides`` (``search.strategy=random``)."""
    return TASKS[name].config(overrides)


def _table_row_range(name: str) -> tuple[float, float] | None:
    for table in TABLES.values():
        for row in table.rows:
            if row.name == name and row.low is not None and row.high is not None:
                return row.low, row.high
    return None


def wide_ranges(space: SearchSpace) -> dict[str, tuple[str, float, float]]:
    """The wide hard range of every numeric dimension of ``space`` left at its table's range:
    ``{name: (scale, low, high)}`` with scale ``log``, ``pow2``, ``int``, ``intlog`` or ``float``
    and the lr as ``lr@<optimizer>``. A dimension the config narrowed keeps its range."""
    ranges: dict[str, tuple[str, float, float]] = {}
    for dim in space.dims:
        if dim.fixed or dim.kind == "choice":
            continue
        if dim.name == LR:
            for optimizer, low, high in dim.lr_ranges:
                table = OPTIMIZERS[optimizer]
                at_table = math.isclose(low, table.low) and math.isclose(high, table.high)
                ranges[f"{LR}@{optimizer}"] = (
                    ("log", low / 10, high * 10) if at_table else ("log", low, high)
                )
            continue
        low, high = dim.bounds
        scale = {"log": "log", "pow2": "pow2", "float": "float"}.get(dim.kind, "int")
        if dim.kind == "int" and dim.log_scale:
            scale = "intlog"
        at_table = _table_row_range(dim.name) == (low, high)
        if not at_table:
            ranges[dim.name] = (scale, low, high)
        elif dim.name == "batch_size":
            ranges[dim.name] = ("pow2", 16, 1024)
        elif dim.name == "dropout":
            ranges[dim.name] = ("float", 0.0, 0.8)
        elif dim.name == "weight_decay":
            ranges[dim.name] = ("log", 1e-6, 1e-1)
        elif scale == "pow2":
            low_exp, high_exp = math.log2(low), math.log2(high)
            half = (high_exp - low_exp) / 2
            ranges[dim.name] = (
                "pow2",
                2 ** max(0, round(low_exp - half)),
                2 ** round(high_exp + half),
            )
        elif scale in ("int", "intlog"):
            half = (high - low) / 2
            ranges[dim.name] = (
                scale,
                max(1, math.floor(low - half + 0.5)),
                math.floor(high + half + 0.5),
            )
        else:
            half = (high - low) / 2
            ranges[dim.name] = (
                scale,
                max(0.0, low - half) if low >= 0 else low - half,
                high + half,
            )
    return ranges


def draw(scale: str, low: float, high: float, rng: np.random.Generator) -> float | int:
    """One value uniform on ``scale`` between ``low`` and ``high``."""
    if scale == "log":
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))
    if scale == "pow2":
        return int(2 ** rng.integers(round(math.log2(low)), round(math.log2(high)) + 1))
    if scale == "int":
        return int(rng.integers(int(low), int(high) + 1))
    if scale == "intlog":
        return round(math.exp(rng.uniform(math.log(low), math.log(high))))
    return float(rng.uniform(low, high))


def wide_sample(space: SearchSpace, seed: int) -> dict[str, Any]:
    """One configuration drawn uniformly (on each dimension's scale) from the wide ranges; the
    categorical values from the space's own choices."""
    rng = np.random.default_rng(seed)
    ranges = wide_ranges(space)
    point: dict[str, Any] = {}
    for dim in space.dims:
        if dim.fixed:
            point[dim.name] = dim.value
        elif dim.kind == "choice":
            point[dim.name] = dim.choices[int(rng.integers(len(dim.choices)))]
        elif dim.name == LR:
            point[LR] = draw(*ranges[f"{LR}@{point[OPTIMIZER]}"], rng)
        else:
            point[dim.name] = draw(*ranges[dim.name], rng)
    return point


def configurations(
    task: CurveTask, count: int | None = None
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """``(id, source, configuration)`` of the task's recorded configurations: even ids drawn from
    the tables' space (``table``), odd ids from the wide ranges (``wide``), each seeded by its id
    so that recording more configurations later keeps the first ones."""
    space = task.config().search_space()
    for index in range(task.configs if count is None else count):
        if index % 2 == 0:
            yield index, "table", sample(space, 1, seed=index)[0]
        else:
            yield index, "wide", wide_sample(space, seed=index)


@dataclass(frozen=True)
class Curve:
    """One recorded configuration: its hyperparameters, its metric after every epoch it trained
    (fewer than the budget when it diverged) and the cumulative training seconds at each."""

    id: int
    source: str
    hp: dict[str, Any]
    metric: tuple[float, ...]
    seconds: tuple[float, ...]


def hp_columns(space: SearchSpace) -> list[str]:
    return [dim.name for dim in space.dims]


def format_row(curve: Curve, columns: list[str], epochs: int) -> list[str]:
    """A curve as one CSV row: id, source, hyperparameters, metric per epoch, seconds per epoch."""
    metric = [f"{v:.6g}" for v in curve.metric] + [""] * (epochs - len(curve.metric))
    seconds = [f"{v:.4g}" for v in curve.seconds] + [""] * (epochs - len(curve.seconds))
    values = [
        f"{v:.6g}" if isinstance(v, float) else str(v) for v in (curve.hp[c] for c in columns)
    ]
    return [str(curve.id), curve.source, *values, *metric, *seconds]


def header_row(columns: list[str], epochs: int) -> list[str]:
    return [
        "id",
        "source",
        *columns,
        *(f"m{e}" for e in range(1, epochs + 1)),
        *(f"s{e}" for e in range(1, epochs + 1)),
    ]


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(text, text)


def parse_rows(lines: Iterator[str] | list[str]) -> list[Curve]:
    """The curves of a CSV (comment lines starting with ``#`` skipped)."""
    reader = csv.reader(line for line in lines if not line.startswith("#"))
    head = next(reader)
    metric_at = [i for i, name in enumerate(head) if name.startswith("m") and name[1:].isdigit()]
    seconds_at = [i for i, name in enumerate(head) if name.startswith("s") and name[1:].isdigit()]
    hp_at = [i for i in range(2, metric_at[0])]
    curves = []
    for row in reader:
        if not row:
            continue
        curves.append(
            Curve(
                int(row[0]),
                row[1],
                {head[i]: _value(row[i]) for i in hp_at},
                tuple(float(row[i]) for i in metric_at if row[i] != ""),
                tuple(float(row[i]) for i in seconds_at if row[i] != ""),
            )
        )
    return curves


def read_curves(path: Path) -> tuple[list[str], list[Curve]]:
    """The header comments and the curves of a recorded task's file (``.csv.gz`` or ``.csv``)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        lines = handle.read().splitlines()
    return [line for line in lines if line.startswith("#")], parse_rows(lines)


def write_curves(
    path: Path, comments: list[str], columns: list[str], epochs: int, curves: list[Curve]
) -> None:
    """The task's file: ``# `` comment lines (what it is, the command), the header, one row per
    curve in id order; gzip's mtime 0 so that the same curves make the same bytes."""
    text = io.StringIO()
    for comment in comments:
        text.write(f"# {comment}\n")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header_row(columns, epochs))
    for curve in sorted(curves, key=lambda c: c.id):
        writer.writerow(format_row(curve, columns, epochs))
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=9) as handle,
    ):
        handle.write(text.getvalue().encode())
