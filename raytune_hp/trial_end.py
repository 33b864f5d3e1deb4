"""The driver's record of how each trial ended, written into the trial's TensorBoard run.

A trial that ASHA stops early, or that fails for good, cannot say so itself: it is stopped, or
gone. The driver sees every trial end (Ray Tune's callbacks), so it writes the end for all of
them, into the trial's folder in the experiment's storage, which is right for trials on other
nodes too: the HParams session's end (success for completed and stopped-early trials, failure
for the rest), whether ASHA stopped it (``stopped_early``), and the status in words.

Example:
    >>> from raytune_hp.storage import ExperimentStore
    >>> writer = TrialEndWriter(ExperimentStore("/tmp/runs/x"), max_epochs=18)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from raytune_hp.report.trials import COMPLETED, STOPPED_EARLY, trial_status
from raytune_hp.storage import ExperimentStore
from raytune_hp.tb_logger import trial_end_file


class TrialEndWriter(Callback):  # type: ignore[misc]
    """Writes each trial's end into its folder under ``store`` (the run's experiment folder),
    for an experiment whose trials train ``max_epochs`` epochs at most."""

    def __init__(self, store: ExperimentStore, max_epochs: int) -> None:
        self._store, self._max_epochs = store, max_epochs

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._write(trial, "ERROR")

    def _write(self, trial: Any, ray_status: str) -> None:
        last = dict(trial.last_result or {})
        failures = int(getattr(trial.run_metadata, "num_failures", 0) or 0)
        status, detail = trial_status(ray_status, [last], self._max_epochs, failures)
        epochs = int(last.get("epoch") or 0)
        words = {
            COMPLETED: f"completed all {epochs} epochs",
            STOPPED_EARLY: f"stopped early by ASHA at epoch {epochs}",
        }.get(status, f"{status}: {detail}" if detail else status)
        name, data = trial_end_file(
            words,
            epochs,
            stopped_early=status == STOPPED_EARLY,
            succeeded=status in (COMPLETED, STOPPED_EARLY),
        )
        self._store.child(str(trial.storage.trial_dir_name)).write_bytes(name, data)
