"""What an experiment folder holds, read back from disk: ``summary.md`` and ``best_config.yaml``.

Everything here works from the folder alone (Ray's experiment state plus each trial's results),
so ``raytune-hp report RUN_DIR`` can rewrite it for any finished or interrupted experiment.

Example:
    >>> from raytune_hp.config import load_config
    >>> trials = write_reports("runs/quickstart", load_config("runs/quickstart/config.yaml"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import DIVERGED, EPOCH
from raytune_hp.spaces import flatten
from raytune_hp.storage import ExperimentStore

SUMMARY_FILE = "summary.md"
BEST_CONFIG_FILE = "best_config.yaml"
CONFIG_FILE = "config.yaml"
FINE_SPACE_FILE = "fine_space.yaml"
PHASES = ("coarse", "fine")
_STATE_GLOB = "experiment_state-*.json"


def as_store(where: ExperimentStore | str | Path) -> ExperimentStore:
    """An experiment folder given as a store, a local path or a URI."""
    if isinstance(where, ExperimentStore):
        return where
    return ExperimentStore(str(where) if "://" in str(where) else str(Path(where).resolve()))


def is_experiment(where: ExperimentStore | str | Path, own_config: bool = True) -> bool:
    """Whether ``where`` holds an experiment: Ray's experiment state (at the top or in its phase
    folders) and, with ``own_config``, raytune-hp's ``config.yaml``."""
    store = as_store(where)
    folders = [store, *(store.child(phase) for phase in PHASES)]
    has_state = any(folder.glob(_STATE_GLOB) for folder in folders)
    return has_state and (not own_config or store.exists(CONFIG_FILE))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the summary shows it."""

    name: str
    status: str
    hparams: dict[str, Any]
    best: float | None
    epochs: int
    error: str = ""
    phase: str = ""


def load_trials(where: ExperimentStore | str | Path, config: ExperimentConfig) -> list[TrialRecord]:
    """Every trial of the experiment in ``where`` (all phases), best first, hyperparameters in
    table order.

    Status is ``completed`` (whole budget), ``pruned`` (stopped early by ASHA), ``diverged``,
    ``error``, or Ray's own state (``RUNNING``, ``PENDING``) for an interrupted experiment.
    """
    store = as_store(where)
    phases = [p for p in PHASES if store.child(p).glob(_STATE_GLOB)]
    records = []
    for phase in phases or [""]:
        records += _phase_trials(store.child(phase) if phase else store, config, phase)
    sign = -1 if config.train.mode == "max" else 1
    records.sort(key=lambda r: (r.best is None, sign * r.best if r.best is not None else 0))
    return records


def _phase_trials(
    folder: ExperimentStore, config: ExperimentConfig, phase: str
) -> list[TrialRecord]:
    from ray.tune import ExperimentAnalysis

    metric, mode, max_epochs = config.train.metric, config.train.mode, config.train.max_epochs
    order = [dim.name for dim in config.search_space().dims]
    if not folder.glob(_STATE_GLOB):
        return []
    analysis = ExperimentAnalysis(folder.path, storage_filesystem=folder.fs)
    records = []
    for trial in analysis.trials:
        history = _history(analysis, trial)
        values = [row[metric] for row in history if _finite(row.get(metric))]
        best = (max(values) if mode == "max" else min(values)) if values else None
        epochs = max((int(row[EPOCH]) for row in history if EPOCH in row), default=0)
        diverged = any(bool(row.get(DIVERGED)) for row in history)
        if trial.status == "ERROR":
            status = "error"
        elif diverged:
            status = "diverged"
        elif trial.status == "TERMINATED":
            status = "completed" if epochs >= max_epochs else "pruned"
        else:
            status = trial.status
        error = ""
        trial_folder = folder.child(str(trial.storage.trial_dir_name))  # type: ignore[union-attr]
        if trial_folder.exists("error.txt"):
            lines = trial_folder.read_text("error.txt").strip().splitlines()
            error = lines[-1] if lines else ""
        records.append(
            TrialRecord(
                trial.trial_id,
                status,
                _ordered(flatten(trial.config), order),
                best,
                epochs,
                error,
                phase,
            )
        )
    return records


def _ordered(hparams: dict[str, Any], order: list[str]) -> dict[str, Any]:
    known = {key: hparams[key] for key in order if key in hparams}
    return known | {key: value for key, value in hparams.items() if key not in known}


def _history(analysis: Any, trial: Any) -> list[dict[str, Any]]:
    frame = analysis.trial_dataframes.get(trial.trial_id)
    if frame is None or frame.empty:
        return []
    return frame.to_dict("records")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def summary_markdown(trials: list[TrialRecord], metric: str, mode: str, title: str = "") -> str:
    """A Markdown table: one row per trial, best first, every hyperparameter as a column."""
    keys: list[str] = []
    for trial in trials:
        keys += [k for k in trial.hparams if k not in keys]
    direction = "higher" if mode == "max" else "lower"
    phased = any(trial.phase for trial in trials)
    columns = ["rank", "trial", *(["phase"] if phased else []), *keys, metric, "epochs", "status"]
    head = [
        f"# {title}" if title else "# Experiment summary",
        "",
        f"{len(trials)} trials, sorted by `{metric}` (best epoch of each trial; {direction} is "
        "better). An empty cell: the hyperparameter does not apply to that trial.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    rows = []
    for rank, trial in enumerate(trials, start=1):
        best = f"{trial.best:.4f}" if trial.best is not None else "–"
        status = f"{trial.status}: {trial.error}" if trial.error else trial.status
        cells = [
            str(rank),
            trial.name,
            *([trial.phase] if phased else []),
            *(_cell(trial.hparams.get(k, "")) for k in keys),
            best,
            str(trial.epochs),
            status,
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + rows) + "\n"


def best_config(config: ExperimentConfig, best: TrialRecord) -> dict[str, Any]:
    """The experiment config with every hyperparameter fixed to the best trial's values:
    runnable as-is (``raytune-hp tune best_config.yaml`` trains that one configuration)."""
    data = config.model_dump(mode="json")
    data["name"] = f"{config.name}-best"
    data["space"] = dict(best.hparams)
    data["search"] = {"strategy": "random", "num_samples": 1}
    data["early_stopping"] = {"name": "none"}
    return data


def write_reports(
    where: ExperimentStore | str | Path, config: ExperimentConfig
) -> list[TrialRecord]:
    """(Re)writes ``summary.md`` and ``best_config.yaml`` from what the folder holds."""
    store = as_store(where)
    trials = load_trials(store, config)
    store.write_text(
        SUMMARY_FILE, summary_markdown(trials, config.train.metric, config.train.mode, config.name)
    )
    if trials and trials[0].best is not None:
        text = yaml.safe_dump(best_config(config, trials[0]), sort_keys=False)
        store.write_text(BEST_CONFIG_FILE, text)
    return trials


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
