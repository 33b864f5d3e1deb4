"""The trials of an experiment, read back from its folder: Ray's experiment state and each
trial's results (all phases of a coarse-to-fine experiment), one :class:`TrialRecord` each.

Example:
    >>> record = TrialRecord("t1", "completed", {"lr": 0.01}, 0.97, 10)
    >>> scored_trials([record, TrialRecord("t2", "error", {"lr": 1.0}, None, 0)]) == [record]
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import (
    DIVERGED,
    EPOCH,
    NUM_PARAMS,
    OUT_OF_MEMORY,
    SKIPPED,
    TRAIN_SAMPLES,
    best_of,
    to_loss,
)
from raytune_hp.spaces import flatten
from raytune_hp.storage import PHASES, STATE_GLOB, ExperimentStore, as_store
from raytune_hp.values import is_finite


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
    curve: tuple[tuple[int, float], ...] = field(default=(), compare=False, repr=False)
    """``(epoch, metric)`` for every epoch the trial reported."""


def load_trials(where: ExperimentStore | str | Path, config: ExperimentConfig) -> list[TrialRecord]:
    """Every trial of the experiment in ``where`` (all phases), best first, hyperparameters in
    table order.

    Status is ``completed`` (whole budget), ``pruned`` (stopped early by ASHA), ``diverged``,
    ``out of memory`` (its share of the GPU was not enough; the error says how much it had),
    ``error``, or Ray's own state (``RUNNING``, ``PENDING``) for an interrupted experiment.
    """
    store = as_store(where)
    phases = [p for p in PHASES if store.child(p).glob(STATE_GLOB)]
    records = []
    for phase in phases or [""]:
        records += _phase_trials(store.child(phase) if phase else store, config, phase)
    mode = config.train.mode
    records.sort(key=lambda r: (r.best is None, to_loss(r.best, mode) if r.best is not None else 0))
    return records


def _phase_trials(
    folder: ExperimentStore, config: ExperimentConfig, phase: str
) -> list[TrialRecord]:
    from ray.tune import ExperimentAnalysis

    metric, mode, max_epochs = config.train.metric, config.train.mode, config.train.max_epochs
    order = [dim.name for dim in config.search_space().dims]
    if not folder.glob(STATE_GLOB):
        return []
    analysis = ExperimentAnalysis(folder.path, storage_filesystem=folder.fs)
    records = []
    for trial in analysis.trials:
        history = _history(analysis, trial)
        skip = next((row for row in history if row.get(SKIPPED) is True), None)
        if skip is not None:
            # Its placeholder result is no metric: it never trained.
            history = []
        values = [row[metric] for row in history if is_finite(row.get(metric))]
        best = best_of(values, mode) if values else None
        epochs = max((int(row[EPOCH]) for row in history if EPOCH in row), default=0)
        diverged = any(bool(row.get(DIVERGED)) for row in history)
        out_of_memory = next(
            (str(row[OUT_OF_MEMORY]) for row in history if row.get(OUT_OF_MEMORY)), ""
        )
        curve = tuple(
            (int(row[EPOCH]), float(row[metric]))
            for row in history
            if is_finite(row.get(EPOCH)) and is_finite(row.get(metric))
        )
        if trial.status == "ERROR":
            status = "error"
        elif skip is not None:
            status = (
                f"skipped: {int(skip[NUM_PARAMS]):,} parameters > ½ × "
                f"{int(skip[TRAIN_SAMPLES]):,} training samples"
            )
        elif out_of_memory:
            status = "out of memory"
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
            if trial.status == "TERMINATED":
                error = f"retried from its checkpoint after {error}"
        error = error or out_of_memory
        records.append(
            TrialRecord(
                trial.trial_id,
                status,
                _ordered(flatten(trial.config), order),
                best,
                epochs,
                error,
                phase,
                curve,
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


def scored_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that have a metric."""
    return [trial for trial in trials if trial.best is not None]
