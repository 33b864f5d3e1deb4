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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytune_hp.budget.ledger import BudgetRecord
from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import (
    CHECKPOINT_FALLBACK,
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
from raytune_hp.storage_faults import trials_missing_from_state
from raytune_hp.values import is_finite

COMPLETED = "completed"
STOPPED_EARLY = "stopped early"
STOPPED_AT_BUDGET = "stopped at the budget's end"
DIVERGED_STATUS = "diverged"
FAILED = "failed"
OUT_OF_MEMORY_STATUS = "out of memory"
SKIPPED_STATUS = "skipped"
TIMED_OUT = "timed out"
ENDED = (
    COMPLETED,
    STOPPED_EARLY,
    STOPPED_AT_BUDGET,
    DIVERGED_STATUS,
    FAILED,
    OUT_OF_MEMORY_STATUS,
    SKIPPED_STATUS,
    TIMED_OUT,
)
"""How a trial ended: its whole budget; stopped early by ASHA; stopped where the search's budget
(``search.budget``) ran out; its loss stopped being a number;
an error (after its retries); out of GPU memory; skipped before training (the capacity rule);
ended by the driver when it went over ``train.trial_timeout``.
A trial not ended yet is ``running`` or ``pending`` (or ``paused``)."""

TIMED_OUT_FILE = "timed_out.json"
"""In a trial's folder: the time limit it broke (``limit``: ``epoch`` or ``trial``, ``seconds``)
and the epochs it had reported (``epochs``), written by the driver that ended it."""


def timed_out_detail(record: Mapping[str, Any]) -> str:
    """What the summary says beside a timed-out trial, from its :data:`TIMED_OUT_FILE`.

    Example:
        >>> timed_out_detail({"limit": "epoch", "seconds": 90.0, "epochs": 3})
        'no report within 90 s after epoch 3 (train.trial_timeout.epoch)'
        >>> timed_out_detail({"limit": "trial", "seconds": 3600.0, "epochs": 0})
        'over 1 h of training, in epoch 1 (train.trial_timeout.trial)'
    """
    from raytune_hp.config.timeout import TrialTimeout

    limit, epochs = str(record.get("limit")), int(record.get("epochs") or 0)
    words = str(TrialTimeout.model_validate({limit: record.get("seconds")})).partition(" ")[2]
    if limit == "epoch":
        after = f"after epoch {epochs}" if epochs else "in its first epoch"
        return f"no report within {words} {after} (train.trial_timeout.epoch)"
    return f"over {words} of training, in epoch {epochs + 1} (train.trial_timeout.trial)"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the summary shows it.

    ``name`` is its run's name, the same in the folder, TensorBoard, the summary and the plots:
    its number (the order the searcher proposed it in) first, then what sets it apart
    (``007_adam_lr3.2e-03``); ``number`` is that number. ``best`` is the trial's best epoch's
    metric (its score everywhere) and ``last`` its last epoch's; ``epochs`` how many it trained;
    ``status`` one of :data:`ENDED` (or ``running``, ``pending``), with ``detail`` saying why it
    failed, was skipped, ran out of memory or was retried. ``history`` holds every epoch's
    reported metrics (the trial's own, where it ran, and ``timestamp``), in order; ``started``
    and ``ended`` are the wall-clock times (seconds since the epoch) of its first epoch's start
    and its last epoch's end. ``parameters`` is the model's trainable parameters and ``samples``
    the training samples, where the trial said (the built-in loop does): ``over_capacity``
    compares them with the capacity rule.
    """

    name: str
    status: str
    hparams: dict[str, Any]
    best: float | None
    epochs: int
    detail: str = ""
    phase: str = ""
    curve: tuple[tuple[int, float], ...] = field(default=(), compare=False, repr=False)
    """``(epoch, metric)`` for every epoch the trial reported."""
    history: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    parameters: int | None = None
    samples: int | None = None
    number: int = 0
    trial_id: str = ""
    last: float | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def over_capacity(self) -> bool:
        """Whether the model had more trainable parameters than half the training samples."""
        if self.parameters is None or self.samples is None:
            return False
        return self.parameters > capacity_limit(self.samples)


def trial_status(
    ray_status: str,
    rows: Sequence[Mapping[str, Any]],
    max_epochs: int,
    failures: int = 0,
    timed_out: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """How a trial ended (one of :data:`ENDED`, or ``running``/``pending``/``paused``) and the
    detail to show beside it, from Ray's status for it and what it reported (its result rows,
    or just the last one), and the record of the time limit it broke (``timed_out``), if any.

    Example:
        >>> trial_status("TERMINATED", [{"epoch": 6}], max_epochs=18)
        ('stopped early', '')
        >>> trial_status("ERROR", [{"epoch": 2}], 18, failures=3)
        ('failed', 'after 2 retries')
    """
    skip = next((row for row in rows if row.get(SKIPPED) is True), None)
    out_of_memory = next((str(row[OUT_OF_MEMORY]) for row in rows if row.get(OUT_OF_MEMORY)), "")
    epochs = max((int(row[EPOCH]) for row in rows if is_finite(row.get(EPOCH))), default=0)
    if timed_out is not None:
        # Whatever Ray recorded: it can keep a trial whose process the driver killed as
        # running in its experiment state, and a resume ends such a trial again at once.
        return TIMED_OUT, timed_out_detail(timed_out)
    if ray_status == "ERROR":
        retries = max(0, failures - 1)
        return FAILED, f"after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
    if skip is not None:
        return SKIPPED_STATUS, (
            f"{int(skip[NUM_PARAMS]):,} parameters > ½ × {int(skip[TRAIN_SAMPLES]):,} "
            "training samples"
        )
    if out_of_memory:
        return OUT_OF_MEMORY_STATUS, out_of_memory
    if any(bool(row.get(DIVERGED)) for row in rows):
        return DIVERGED_STATUS, f"at epoch {epochs}"
    if ray_status == "TERMINATED":
        return (COMPLETED, "") if epochs >= max_epochs else (STOPPED_EARLY, "")
    return ray_status.lower(), ""


def run_name(number: int, hparams: Mapping[str, Any], tuned: Sequence[str]) -> str:
    """A trial's run name: its number, then what sets it apart, short and stable (the optimizer
    and learning rate where they are tuned, else its first tuned hyperparameter).

    Example:
        >>> run_name(7, {"optimizer": "adam", "lr": 0.0032, "dropout": 0.1}, ["optimizer", "lr"])
        '007_adam_lr3.2e-03'
        >>> run_name(12, {"width": 64, "act": "relu"}, ["width", "act"])
        '012_width64'
    """
    parts = [f"{number:03d}"]
    shown = [name for name in ("optimizer", "lr") if name in tuned and name in hparams]
    if not shown:
        shown = [name for name in tuned if name in hparams][:1]
    for name in shown:
        value = hparams[name]
        if name == "optimizer":
            parts.append(str(value))
        elif isinstance(value, float):
            parts.append(f"{name}{value:.1e}")
        else:
            parts.append(f"{name}{value}")
    return "_".join(re.sub(r"[^\w.+-]", "-", part) for part in parts)


# What Ray Tune adds to every result row; the rest is what the trial reported.
_RAY_KEYS = frozenset(
    {
        "checkpoint_dir_name", "should_checkpoint", "done", "training_iteration",
        "trial_id", "date", "time_this_iter_s", "pid", "hostname", "node_ip", "config",
        "time_since_restore", "iterations_since_restore", "experiment_tag",
    }
)  # fmt: skip


def load_trials(where: ExperimentStore | str | Path, config: ExperimentConfig) -> list[TrialRecord]:
    """Every trial of the experiment in ``where`` (all phases), best first, hyperparameters in
    table order.

    Status is one of :data:`ENDED` (``stopped at the budget's end`` for the trials that
    ``budget.json`` lists as cut), or ``running``/``pending`` for an interrupted experiment.
    """
    store = as_store(where)
    cut = BudgetRecord.read(store).cut_ids() if config.search.budget is not None else set()
    records = []
    for phase in ["", *phase_folders(store)]:
        records += _phase_trials(store.child(phase) if phase else store, config, phase, cut)
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
    folder: ExperimentStore, config: ExperimentConfig, phase: str, cut: set[str]
) -> list[TrialRecord]:
    metric, mode, max_epochs = config.train.metric, config.train.mode, config.train.max_epochs
    order = [dim.name for dim in config.search_space().dims]
    state = read_state(folder)
    if state is None:
        return []
    records = []
    # Trials that ran after the newest whole state (a newer one was cut off) count too.
    missing = trials_missing_from_state(folder, state["trial_data"], max_epochs)
    for trial_json, metadata_json in state["trial_data"] + missing:
        trial, metadata = json.loads(trial_json), json.loads(metadata_json)
        trial_id, ray_status = str(trial["trial_id"]), str(trial["status"])
        trial_folder = folder.child(str(trial.get("relative_logdir") or trial_id))
        history = _history(trial_folder)
        timed_out = read_timed_out(trial_folder)
        status, detail = trial_status(
            ray_status, history, max_epochs, int(metadata.get("num_failures") or 0), timed_out
        )
        if status == SKIPPED_STATUS:
            history = []  # its placeholder result is no metric: it never trained
        elif status == STOPPED_EARLY and trial_id in cut:
            status = STOPPED_AT_BUDGET
        values = [row[metric] for row in history if is_finite(row.get(metric))]
        best = best_of(values, mode) if values else None
        epochs = max((int(row[EPOCH]) for row in history if is_finite(row.get(EPOCH))), default=0)
        curve = tuple(
            (int(row[EPOCH]), float(row[metric]))
            for row in history
            if is_finite(row.get(EPOCH)) and is_finite(row.get(metric))
        )
        if trial_folder.exists("error.txt"):
            lines = trial_folder.read_text("error.txt").strip().splitlines()
            error = lines[-1] if lines else ""
            if timed_out is not None:
                pass  # killed by the driver: the error is only how Ray saw it die
            elif ray_status == "TERMINATED":
                detail = f"retried from its checkpoint after {error}"
            elif error:
                detail = f"{error} ({detail})" if detail else error
        # A checkpoint that could not be read, and what the trial continued from instead.
        notes = [str(row[CHECKPOINT_FALLBACK]) for row in history if row.get(CHECKPOINT_FALLBACK)]
        detail = "; ".join(part for part in (detail, *notes) if part)
        hparams = {k: v for k, v in flatten(trial.get("config") or {}).items() if _plain(v)}
        name = trial_folder.location.rstrip("/").rsplit("/", 1)[-1].partition("?")[0]
        timed = [row for row in history if is_finite(row.get("timestamp"))]
        records.append(
            TrialRecord(
                name,
                status,
                _ordered(hparams, order),
                best,
                epochs,
                detail,
                phase,
                curve,
                tuple({k: v for k, v in row.items() if k not in _RAY_KEYS} for row in history),
                _last_int(history, NUM_PARAMS),
                _last_int(history, TRAIN_SAMPLES),
                _number(name, trial),
                trial_id,
                curve[-1][1] if curve else None,
                timed[0]["timestamp"] - float(timed[0].get("time_this_iter_s") or 0)
                if timed
                else None,
                float(timed[-1]["timestamp"]) if timed else None,
            )
        )
    return records


def read_timed_out(trial_folder: ExperimentStore) -> dict[str, Any] | None:
    """The trial's :data:`TIMED_OUT_FILE`, or ``None`` where it has none (or it is unreadable:
    then the trial reads as Ray recorded it)."""
    if not trial_folder.exists(TIMED_OUT_FILE):
        return None
    try:
        record = json.loads(trial_folder.read_text(TIMED_OUT_FILE))
    except (OSError, ValueError):
        return None
    return (
        record if isinstance(record, dict) and record.get("limit") in ("epoch", "trial") else None
    )


def _number(name: str, trial: Mapping[str, Any]) -> int:
    """The trial's number: its run name's start, or (folders named by an older raytune-hp) the
    count Ray's experiment tag starts with."""
    for text in (name, str(trial.get("experiment_tag") or "")):
        digits = re.match(r"(\d+)_", text)
        if digits:
            return int(digits.group(1))
    return 0


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
