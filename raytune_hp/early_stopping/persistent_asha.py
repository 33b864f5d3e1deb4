"""ASHA that keeps its rungs across a resume.

Ray does not restore a scheduler's state when an experiment resumes (ray-project/ray #30838): a
resumed ASHA would start with empty rungs and let every trial through the next milestone. This
subclass writes its rungs (every result recorded at every milestone, and how many trials it
stopped) to the experiment folder whenever they change, and reads them back before its first
trial is added, so a resumed experiment prunes against the same history as before.

It relies on private parts of Ray's ``AsyncHyperBandScheduler`` (``_brackets``, each bracket's
``_rungs`` and ``_num_stopped``); ``tests/unit/early_stopping`` fails loudly when a Ray upgrade
removes one.

Example:
    >>> asha = PersistentASHA(None, time_attr="epoch", metric="val_acc", mode="max", max_t=9,
    ...                       grace_period=1, reduction_factor=3)
    >>> [milestone for milestone, _ in asha.rungs()[0]]
    [9, 3, 1]
"""

from __future__ import annotations

import pickle
from typing import Any

from ray.tune.schedulers import ASHAScheduler

RUNGS_FILE = "asha_rungs.pkl"


class PersistentASHA(ASHAScheduler):  # type: ignore[misc]
    """ASHA that writes its rungs to ``store`` and reads them back on resume.

    Args:
        store: the experiment folder (an :class:`~raytune_hp.storage.ExperimentStore`), or
            ``None`` to keep the rungs in memory only.
        **kwargs: ``ASHAScheduler``'s own arguments.
    """

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

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        super().on_trial_complete(tune_controller, trial, result)
        self._save_rungs()

    def rungs(self) -> list[list[tuple[float, dict[str, float]]]]:
        """Per bracket, per rung: its milestone and the results recorded there."""
        return [
            [(milestone, dict(recorded)) for milestone, recorded in bracket._rungs]
            for bracket in self._brackets
        ]

    def _version(self) -> tuple[int, int]:
        """Results recorded in all rungs, trials stopped: both only grow, so the pair changes
        exactly when the state written to the store would."""
        recorded = sum(len(r) for bracket in self._brackets for _, r in bracket._rungs)
        return recorded, self._num_stopped

    def _save_rungs(self) -> None:
        # Most results fall between milestones and change nothing: rewriting every rung (a file,
        # or an object on S3) after each of them would cost the driver's loop a write per
        # result, growing with the number of trials.
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
