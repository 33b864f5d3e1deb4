"""The trials of an experiment, read back from its folder: Ray's experiment state and each
trial's results (all phases of a coarse-to-fine experiment, and every run that grew it), one
:class:`TrialRecord` each.

Only data formats are read (the experiment state's JSON, each trial's ``result.json`` lines and
``error.txt``), never a pickle: reading a folder cannot run code planted in it, and it needs
nothing but the folder, whatever code trained the trials.

Example:
    >>> record = TrialRecord("t1", "completed", {"lr": 0.01}, 0.97, 10)
    >>> scored_trials([record, TrialRecord("t2", "error", {"lr": 1.0}, None, 0)]) == [record]
    True
"""

from __future__ import annotations

import json
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
from raytune_hp.models import capacity_limit
from raytune_hp.spaces import flatten
from raytune_hp.storage import STATE_GLOB, ExperimentStore, as_store, phase_folders
from raytune_hp.values import is_finite


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the summary shows it.

    ``best`` is the trial's best epoch's metric; ``epochs`` how many it trained; ``history`` every
    epoch's reported metrics (the trial's own, and where it ran), in order. ``parameters`` is
    the model's trainable parameters and ``samples`` the training samples, where the trial said
    (the built-in loop does): ``over_capacity`` compares them with the capacity rule.
    """

    name: str
    status: str
    hparams: dict[str, Any]
    best: float | None
    epochs: int
    error: str = ""
    phase: str = ""
    curve: tuple[tuple[int, float], ...] = field(default=(), compare=False, repr=False)
    """``(epoch, metric)`` for every epoch the trial reported."""
    history: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    parameters: int | None = None
    samples: int | None = None

    @property
    def over_capacity(self) -> bool:
        """Whether the model had more trainable parameters than half the training samples."""
        if self.parameters is None or self.samples is None:
            return False
        return self.parameters > capacity_limit(self.samples)


# What Ray Tune adds to every result row; the rest is what the trial reported.
_RAY_KEYS = frozenset(
    {
        "timestamp", "checkpoint_dir_name", "should_checkpoint", "done", "training_iteration",
        "trial_id", "date", "time_this_iter_s", "pid", "hostname", "node_ip", "config",
        "time_since_restore", "iterations_since_restore", "experiment_tag",
    }
)  # fmt: skip


def load_trials(where: ExperimentStore | str | Path, config: ExperimentConfig) -> list[TrialRecord]:
    """Every trial of the experiment in ``where`` (all phases), best first, hyperparameters in
    table order.

    Status is ``completed`` (whole budget), ``pruned`` (stopped early by ASHA), ``diverged``,
    ``out of memory`` (its share of the GPU was not enough; the error says how much it had),
    ``error``, or Ray's own state (``RUNNING``, ``PENDING``) for an interrupted experiment.
    """
    store = as_store(where)
    records = []
    for phase in ["", *phase_folders(store)]:
        records += _phase_trials(store.child(phase) if phase else store, config, phase)
    mode = config.train.mode
    records.sort(key=lambda r: (r.best is None, to_loss(r.best, mode) if r.best is not None else 0))
    return records


def read_state(folder: ExperimentStore) -> dict[str, Any] | None:
    """Ray Tune's newest experiment state in ``folder`` that reads as JSON (an older one when the
    newest was cut off), or ``None`` where there is none."""
    for name in sorted(folder.glob(STATE_GLOB), reverse=True):
        try:
            state = json.loads(folder.read_text(name))
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and isinstance(state.get("trial_data"), list):
            return state
    return None


def _phase_trials(
    folder: ExperimentStore, config: ExperimentConfig, phase: str
) -> list[TrialRecord]:
    metric, mode, max_epochs = config.train.metric, config.train.mode, config.train.max_epochs
    order = [dim.name for dim in config.search_space().dims]
    state = read_state(folder)
    if state is None:
        return []
    records = []
    for trial_json, _ in state["trial_data"]:
        trial = json.loads(trial_json)
        trial_id, ray_status = str(trial["trial_id"]), str(trial["status"])
        trial_folder = folder.child(str(trial.get("relative_logdir") or trial_id))
        history = _history(trial_folder)
        skip = next((row for row in history if row.get(SKIPPED) is True), None)
        if skip is not None:
            # Its placeholder result is no metric: it never trained.
            history = []
        values = [row[metric] for row in history if is_finite(row.get(metric))]
        best = best_of(values, mode) if values else None
        epochs = max((int(row[EPOCH]) for row in history if is_finite(row.get(EPOCH))), default=0)
        diverged = any(bool(row.get(DIVERGED)) for row in history)
        out_of_memory = next(
            (str(row[OUT_OF_MEMORY]) for row in history if row.get(OUT_OF_MEMORY)), ""
        )
        curve = tuple(
            (int(row[EPOCH]), float(row[metric]))
            for row in history
            if is_finite(row.get(EPOCH)) and is_finite(row.get(metric))
        )
        if ray_status == "ERROR":
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
        elif ray_status == "TERMINATED":
            status = "completed" if epochs >= max_epochs else "pruned"
        else:
            status = ray_status
        error = ""
        if trial_folder.exists("error.txt"):
            lines = trial_folder.read_text("error.txt").strip().splitlines()
            error = lines[-1] if lines else ""
            if ray_status == "TERMINATED":
                error = f"retried from its checkpoint after {error}"
        error = error or out_of_memory
        hparams = {k: v for k, v in flatten(trial.get("config") or {}).items() if _plain(v)}
        records.append(
            TrialRecord(
                trial_id,
                status,
                _ordered(hparams, order),
                best,
                epochs,
                error,
                phase,
                curve,
                tuple({k: v for k, v in row.items() if k not in _RAY_KEYS} for row in history),
                _last_int(history, NUM_PARAMS),
                _last_int(history, TRAIN_SAMPLES),
            )
        )
    return records


def _last_int(history: list[dict[str, Any]], key: str) -> int | None:
    values = [row[key] for row in history if is_finite(row.get(key))]
    return int(values[-1]) if values else None


def _plain(value: Any) -> bool:
    """Whether a hyperparameter's value is plain data (Ray pickles anything else, which is
    never read here)."""
    return value is None or isinstance(value, (str, int, float, bool))


def _ordered(hparams: dict[str, Any], order: list[str]) -> dict[str, Any]:
    known = {key: hparams[key] for key in order if key in hparams}
    return known | {key: value for key, value in hparams.items() if key not in known}


def _history(trial_folder: ExperimentStore) -> list[dict[str, Any]]:
    """The trial's result rows (``result.json``, one JSON object a line); a line cut off by a
    crash is left out."""
    if not trial_folder.exists("result.json"):
        return []
    rows = []
    for line in trial_folder.read_text("result.json").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def scored_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that have a metric."""
    return [trial for trial in trials if trial.best is not None]
