"""What every benchmark's result table states about where and how it ran."""

from __future__ import annotations

import contextlib
import os
import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
    title: str, command: str, packages: tuple[str, ...] = ("torch", "ray", "hyperopt", "optuna")
) -> list[str]:
    """The Markdown title and the date, command, machine and versions lines."""
    return [
        f"# {title}",
        "",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command}`",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}",
        f"- Versions: {versions(packages)}",
    ]


def write_result(name: str, markdown: str) -> Path:
    """Writes ``benchmarks/results/<name>`` and returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(markdown)
    return path
