"""``train.trial_timeout`` enforced: the driver ends a trial that goes over its time, and records
it as timed out.

A trial that hangs never reports, so nothing that waits for its results (a Ray Tune stopper,
ASHA) can end it, and a thread inside it cannot interrupt a call that never returns (a sleep, a
lock, native code). The driver watches the time instead, between the events of its loop, and
kills the trial's process: whatever it was stuck in, its resources go back to the other trials.
A timed-out trial is not retried (it would only hang again); the limit it broke is written into
its folder (:data:`TIMED_OUT_FILE`), which the summary and its TensorBoard status read.

Example:
    >>> from raytune_hp.config.timeout import TrialTimeout
    >>> watch = TrialTimeouts(TrialTimeout(epoch=60), store=None)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from typing import Any

from ray.tune import Callback

from raytune_hp.config.timeout import TrialTimeout
from raytune_hp.metrics import EPOCH
from raytune_hp.report.trials import TIMED_OUT_FILE
from raytune_hp.storage import ExperimentStore


class TrialTimeouts(Callback):  # type: ignore[misc]
    """Ends the trials of one run (its experiment folder ``store``) that break ``limits``."""

    def __init__(self, limits: TrialTimeout, store: ExperimentStore) -> None:
        self._limits, self._store = limits, store
        self._started: dict[str, float] = {}  # this start of the trial, monotonic
        self._trained: dict[str, float] = {}  # its training time before this start
        self._last: dict[str, float] = {}  # its last report, or this start
        self._ended: set[str] = set()

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        now, trial_id = time.monotonic(), trial.trial_id
        self._started[trial_id] = self._last[trial_id] = now
        self._trained[trial_id] = float((trial.last_result or {}).get("time_total_s") or 0.0)
        if self._folder(trial).exists(TIMED_OUT_FILE):
            # A resume restarts the trials that ended in an error, and Ray Tune can record a
            # trial whose process was killed as still running (its saved state is not updated
            # when the process's end reaches it first): this one timed out, and stays so.
            self._kill(trial)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        self._last[trial.trial_id] = time.monotonic()

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        now = time.monotonic()
        epoch, whole = self._limits.epoch, self._limits.trial
        for trial in trials:
            trial_id = trial.trial_id
            if trial.status != "RUNNING" or trial_id not in self._started:
                continue
            if trial_id in self._ended:
                continue
            if epoch is not None and now - self._last[trial_id] > epoch:
                self._end(trial, "epoch", epoch)
            elif (
                whole is not None
                and self._trained[trial_id] + now - self._started[trial_id] > whole
            ):
                self._end(trial, "trial", whole)

    def _end(self, trial: Any, limit: str, seconds: float) -> None:
        epochs = int((trial.last_result or {}).get(EPOCH) or 0)
        record = {"limit": limit, "seconds": seconds, "epochs": epochs}
        # Written before Ray hears of the end, so that every record of it says why.
        self._folder(trial).write_text(TIMED_OUT_FILE, json.dumps(record) + "\n")
        self._kill(trial)

    def _kill(self, trial: Any) -> None:
        import ray

        self._ended.add(trial.trial_id)
        # Ray Tune retries a trial whose process died while it has retries left: this one ran
        # out of time, and would only run out again.
        trial.max_failures = 0
        actor = trial.temporary_state.ray_actor
        if actor is not None:
            ray.kill(actor, no_restart=True)

    def _folder(self, trial: Any) -> ExperimentStore:
        return self._store.child(str(trial.storage.trial_dir_name))
