"""What every benchmark's result table states about where and how it ran."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from raytune_hp.spaces import SearchSpace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def versions(packages: tuple[str, ...] = ("torch", "ray", "hyperopt", "optuna")) -> str:
    """``python 3.11.7, torch 2.13.0+cpu, ...``; a package that is not installed is left out."""
    found = [f"python {platform.python_version()}"]
    for name in packages:
        with contextlib.suppress(PackageNotFoundError):
            found.append(f"{name} {version(name)}")
    return ", ".join(found)


def header(
    title: str,
    command: str,
    packages: tuple[str, ...] = ("torch", "ray", "hyperopt", "optuna"),
    mode: str | None = None,
) -> list[str]:
    """The Markdown title and the date, command, machine and versions lines, and the mode (what
    ``--quick`` or the full mode ran) where given."""
    lines = [
        f"# {title}",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command}`",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}",
        f"- Versions: {versions(packages)}",
    ]
    return [*lines, f"- Mode: {mode}"] if mode else lines


def load_line() -> str:
    """The load average now, as a table's line: others' work on a shared machine shows there."""
    loads = os.getloadavg()
    cores = os.cpu_count() or 1
    note = f" (above {cores} on {cores} cores: others' work shared the machine)"
    return (
        "- Load average (1, 5, 15 min) at the end: "
        + ", ".join(f"{load:.1f}" for load in loads)
        + (note if loads[0] > cores else "")
    )


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the values that are not NaN (NaN, NaN if none).

    Example:
        >>> mean_se([1.0, 2.0, 3.0, math.nan])
        (2.0, 0.5773502691896258)
    """
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return math.nan, math.nan
    se = statistics.stdev(kept) / math.sqrt(len(kept)) if len(kept) > 1 else math.nan
    return statistics.fmean(kept), se


def write_result(name: str, markdown: str, folder: Path = RESULTS) -> Path:
    """Writes ``<folder>/<name>`` (``benchmarks/results`` unless told) and returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(markdown)
    return path


def suggest_optuna(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """One configuration of ``space`` through Optuna's suggest API: a conditional dimension (the
    lr) gets its own parameter per parent value (``lr_adam``), powers of two are suggested as
    integer exponents, as raytune-hp hands them to HyperOpt."""
    hp: dict[str, Any] = {}
    for dim in space.dims:  # parents come before their children
        parent = hp.get(dim.when[0]) if dim.when else None
        if dim.when is not None and parent not in dim.when[1]:
            continue
        label = dim.name if parent is None else f"{dim.name}_{parent}"
        if dim.fixed:
            hp[dim.name] = dim.value
        elif dim.kind == "choice":
            hp[dim.name] = trial.suggest_categorical(label, list(dim.choices))
        else:
            low, high = dim.range_for(parent)
            if dim.kind == "log":
                hp[dim.name] = trial.suggest_float(label, low, high, log=True)
            elif dim.kind == "float":
                hp[dim.name] = trial.suggest_float(label, low, high)
            elif dim.kind == "int":
                hp[dim.name] = trial.suggest_int(label, int(low), int(high))
            elif dim.kind == "pow2":
                exponents = int(math.log2(low)), int(math.log2(high))
                hp[dim.name] = 2 ** trial.suggest_int(f"log2_{label}", *exponents)
            else:
                raise ValueError(
                    f"space.{dim.name} must be of kind choice, log, float, int or pow2 to be "
                    f"suggested by Optuna; got {dim.kind!r}"
                )
    return hp
