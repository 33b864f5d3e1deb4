"""Early stopping: ASHA prunes weak trials at rungs of epochs, or nothing stops them early.

Ray calls this a "scheduler", PyTorch uses the word for learning-rate schedules; here it is early
stopping. Ray does not restore a scheduler's state when an experiment resumes
(ray-project/ray #30838), so ASHA's rungs (every result recorded at every milestone) are kept in
the experiment folder after each result that changes them and read back on resume: a resumed
experiment prunes against the same history as before.

Example:
    >>> from raytune_hp.config import load_config
    >>> stopper = build_early_stopping(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

import pickle
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import EPOCH

RUNGS_FILE = "asha_rungs.pkl"


def build_early_stopping(config: ExperimentConfig, store: Any = None) -> Any:
    """ASHA with ``epoch`` as its time attribute, its rungs kept in ``store`` (an
    :class:`~raytune_hp.storage.ExperimentStore`), or FIFO (no early stopping)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if config.early_stopping.name == "none":
        return FIFOScheduler()

    class PersistentASHA(ASHAScheduler):  # type: ignore[misc]
        """ASHA that writes its rungs to the experiment folder and reads them back on resume."""

        def __init__(self, store: Any, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._store = store
            self._rungs_loaded = False
            self._saved_version: tuple[int, int] | None = None

        def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
            if not self._rungs_loaded:
                self._load_rungs()
            super().on_trial_add(tune_controller, trial)

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            action = super().on_trial_result(tune_controller, trial, result)
            self._save_rungs()
            return str(action)

        def on_trial_complete(
            self, tune_controller: Any, trial: Any, result: dict[str, Any]
        ) -> None:
            super().on_trial_complete(tune_controller, trial, result)
            self._save_rungs()

        def rungs(self) -> list[list[tuple[float, dict[str, float]]]]:
            """Per bracket, per rung: its milestone and the results recorded there."""
            return [
                [(milestone, dict(recorded)) for milestone, recorded in bracket._rungs]
                for bracket in self._brackets
            ]

        def _version(self) -> tuple[int, int]:
            """Results recorded in all rungs, trials stopped: both only grow, so the pair
            changes exactly when the state written to the store would."""
            recorded = sum(len(r) for bracket in self._brackets for _, r in bracket._rungs)
            return recorded, self._num_stopped

        def _save_rungs(self) -> None:
            # Most results fall between milestones and change nothing: rewriting every rung
            # (a file, or an object on S3) after each of them would cost the driver's loop a
            # write per result, growing with the number of trials.
            version = self._version()
            if self._store is None or version == self._saved_version:
                return
            state = {"rungs": self.rungs(), "num_stopped": self._num_stopped}
            self._store.write_bytes(RUNGS_FILE, pickle.dumps(state))
            self._saved_version = version

        def _load_rungs(self) -> None:
            self._rungs_loaded = True
            if self._store is None or not self._store.exists(RUNGS_FILE):
                return
            state = pickle.loads(self._store.read_bytes(RUNGS_FILE))
            for bracket, rungs in zip(self._brackets, state["rungs"], strict=True):
                for (milestone, recorded), (saved_milestone, saved) in zip(
                    bracket._rungs, rungs, strict=True
                ):
                    if milestone == saved_milestone:
                        recorded.update(saved)
            self._num_stopped = state["num_stopped"]
            self._saved_version = self._version()

    return PersistentASHA(
        store,
        time_attr=EPOCH,
        metric=config.train.metric,
        mode=config.train.mode,
        max_t=config.train.max_epochs,
        grace_period=config.early_stopping.grace_period,
        reduction_factor=config.early_stopping.reduction_factor,
    )
