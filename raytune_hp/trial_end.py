"""The driver's record of how each trial ended, written into the trial's TensorBoard run.

A trial that ASHA stops early, or that fails for good, cannot say so itself: it is stopped, or
gone. The driver sees every trial end (Ray Tune's callbacks), so it writes the end for all of
them, into the trial's folder in the experiment's storage, which is right for trials on other
nodes too: the HParams session's end (success for completed and stopped-early trials, failure
for the rest), whether ASHA stopped it (``stopped_early``), and the status in words. A trial
stopped at the end of the search's budget (``search.budget``) says so, and is not counted as
stopped early by ASHA; one stopped mid-epoch when the time ran out gets its end written when the
run ends.

Example:
    >>> from raytune_hp.storage import ExperimentStore
    >>> writer = TrialEndWriter(ExperimentStore("/tmp/runs/x"), max_epochs=18)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from raytune_hp.report.trials import (
    COMPLETED,
    STOPPED_AT_BUDGET,
    STOPPED_EARLY,
    read_timed_out,
    trial_status,
)
from raytune_hp.storage import ExperimentStore
from raytune_hp.tb_logger import trial_end_file

if TYPE_CHECKING:
    from raytune_hp.budget.tune_hooks import BudgetStopper


class TrialEndWriter(Callback):  # type: ignore[misc]
    """Writes each trial's end into its folder under ``store`` (the run's experiment folder),
    for an experiment whose trials train ``max_epochs`` epochs at most, under the run's
    ``budget`` where it has one."""

    def __init__(
        self, store: ExperimentStore, max_epochs: int, budget: BudgetStopper | None = None
    ) -> None:
        self._store, self._max_epochs, self._budget = store, max_epochs, budget
        self._written: set[str] = set()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._write(trial, "TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._write(trial, "ERROR")

    def on_experiment_end(self, trials: Sequence[Any], **info: Any) -> None:
        cut = self._budget.ledger.cut if self._budget is not None else set()
        for trial in trials:
            trained = (trial.last_result or {}).get("epoch")
            if trial.trial_id in cut and trial.trial_id not in self._written and trained:
                self._write(trial, "TERMINATED")  # stopped with the run: Ray told no callback

    def _write(self, trial: Any, ray_status: str) -> None:
        last = dict(trial.last_result or {})
        failures = int(getattr(trial.run_metadata, "num_failures", 0) or 0)
        folder = self._store.child(str(trial.storage.trial_dir_name))
        timed_out = read_timed_out(folder)  # raytune_hp.timeouts ended it
        status, detail = trial_status(ray_status, [last], self._max_epochs, failures, timed_out)
        if status == STOPPED_EARLY and self._budget is not None:
            status = STOPPED_AT_BUDGET if trial.trial_id in self._budget.ledger.cut else status
        epochs = int(last.get("epoch") or 0)
        self._written.add(trial.trial_id)
        words = {
            COMPLETED: f"completed all {epochs} epochs",
            STOPPED_EARLY: f"stopped early by ASHA at epoch {epochs}",
            STOPPED_AT_BUDGET: f"stopped at the budget's end at epoch {epochs}",
        }.get(status, f"{status}: {detail}" if detail else status)
        name, data = trial_end_file(
            words,
            epochs,
            stopped_early=status == STOPPED_EARLY,
            succeeded=status in (COMPLETED, STOPPED_EARLY, STOPPED_AT_BUDGET),
        )
        folder.write_bytes(name, data)
