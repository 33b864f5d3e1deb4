"""ASHA that keeps its rungs across a resume.

Ray does not restore a scheduler's state when an experiment resumes (ray-project/ray #30838): a
resumed ASHA would start with empty rungs and let every trial through the next milestone. This
subclass writes its rungs (every result recorded at every milestone, and how many trials it
stopped) to the experiment folder whenever they change, and reads them back before its first
trial is added, so a resumed experiment prunes against the same history as before. The file is
plain JSON, checked against its schema when read (:func:`read_rungs`): an experiment folder is
data, and a damaged or planted file is one clear error, never code that runs.

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

import json
from collections.abc import Collection
from typing import Any

from ray.tune.schedulers import ASHAScheduler

from raytune_hp.errors import RaytuneHPError

RUNGS_FILE = "asha_rungs.json"
RUNGS_VERSION = 1

Rungs = list[list[tuple[float, dict[str, float]]]]
"""Per bracket, per rung: its milestone and the results recorded there, by trial id."""


class StateFileError(RaytuneHPError):
    """A state file raytune-hp keeps in an experiment folder is damaged or not its own."""


def rungs_json(rungs: Rungs, num_stopped: int) -> str:
    """The rung file's text.

    Example:
        >>> text = rungs_json([[(3, {"t1": 0.9}), (1, {})]], 2)
        >>> read_rungs(text, "asha_rungs.json")
        ([[(3, {'t1': 0.9}), (1, {})]], 2)
    """
    brackets = [[[milestone, recorded] for milestone, recorded in rungs_] for rungs_ in rungs]
    state = {"version": RUNGS_VERSION, "rungs": brackets, "num_stopped": num_stopped}
    return json.dumps(state, indent=1) + "\n"


def read_rungs(text: str | bytes, where: str) -> tuple[Rungs, int]:
    """The rungs and the number of stopped trials in a rung file's text, checked against its
    schema.

    Raises:
        StateFileError: ``text`` is not a rung file raytune-hp wrote (``where`` names it).

    Example:
        >>> read_rungs('{"version": 1, "rungs": [[[1, {"t": "x"}]]], "num_stopped": 0}', "r")
        Traceback (most recent call last):
        ...
        raytune_hp.early_stopping.persistent_asha.StateFileError: r: rungs must be ...
    """

    def bad(rule: str, got: object) -> StateFileError:
        shown = repr(got)
        shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
        return StateFileError(
            f"{where}: {rule}; got {shown} (the file is damaged or not raytune-hp's: move it "
            "away to resume without ASHA's earlier rungs)"
        )

    try:
        state = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad("must be JSON", str(exc)) from None
    if not isinstance(state, dict):
        raise bad("must be a JSON object", state)
    if state.get("version") != RUNGS_VERSION:
        raise bad(f"version must be {RUNGS_VERSION}", state.get("version"))
    if set(state) != {"version", "rungs", "num_stopped"}:
        raise bad("keys must be version, rungs and num_stopped", sorted(state))
    stopped = state["num_stopped"]
    if not isinstance(stopped, int) or isinstance(stopped, bool) or stopped < 0:
        raise bad("num_stopped must be an integer >= 0", stopped)
    rule = "rungs must be a list of brackets of [milestone, {trial id: number}] pairs"
    rungs: Rungs = []
    if not isinstance(state["rungs"], list):
        raise bad(rule, state["rungs"])
    for bracket in state["rungs"]:
        if not isinstance(bracket, list):
            raise bad(rule, bracket)
        rungs.append([])
        for rung in bracket:
            if not (isinstance(rung, list) and len(rung) == 2 and isinstance(rung[1], dict)):
                raise bad(rule, rung)
            milestone, recorded = rung
            if not _is_number(milestone) or not all(_is_number(v) for v in recorded.values()):
                raise bad(rule, rung)
            rungs[-1].append((milestone, recorded))
    return rungs, stopped


def forget_unknown_trials(store: Any, known: Collection[str]) -> list[str]:
    """Drops from the rung file in ``store`` the results of trials that are not ``known`` (the
    trials Ray Tune's saved state names) and returns their ids.

    A driver killed between a new trial's first result and Tune's next snapshot leaves here a
    result of a trial the resumed run never hears of: Tune's searcher proposes another in its
    place, and the dead trial's result would go on weighing on every later rung's cut.

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> store = ExperimentStore(tempfile.mkdtemp())
        >>> store.write_text(RUNGS_FILE, rungs_json([[(3, {}), (1, {"a": 0.9, "b": 0.5})]], 0))
        >>> forget_unknown_trials(store, {"a"})
        ['b']
        >>> read_rungs(store.read_bytes(RUNGS_FILE), RUNGS_FILE)
        ([[(3, {}), (1, {'a': 0.9})]], 0)
    """
    if not store.exists(RUNGS_FILE):
        return []
    where = f"{store.location}/{RUNGS_FILE}"
    rungs, num_stopped = read_rungs(store.read_bytes(RUNGS_FILE), where)
    unknown = {trial for bracket in rungs for _, recorded in bracket for trial in recorded}
    unknown -= set(known)
    if unknown:
        kept = [
            [(milestone, {t: v for t, v in recorded.items() if t not in unknown})
             for milestone, recorded in bracket]
            for bracket in rungs
        ]  # fmt: skip
        store.write_text(RUNGS_FILE, rungs_json(kept, num_stopped))
    return sorted(unknown)


def _is_number(value: object) -> bool:
    # NaN is a number here: Ray records a diverged trial's metric as it was reported.
    return isinstance(value, int | float) and not isinstance(value, bool)


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

    def rungs(self) -> Rungs:
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
        self._store.write_text(RUNGS_FILE, rungs_json(self.rungs(), self._num_stopped))
        self._saved_version = version

    def _load_rungs(self) -> None:
        self._rungs_loaded = True
        if self._store is None or not self._store.exists(RUNGS_FILE):
            return
        where = f"{self._store.location}/{RUNGS_FILE}"
        saved_rungs, num_stopped = read_rungs(self._store.read_bytes(RUNGS_FILE), where)
        shape = [len(bracket._rungs) for bracket in self._brackets]
        if [len(rungs) for rungs in saved_rungs] != shape:
            raise StateFileError(
                f"{where}: rungs must have {shape} rungs per bracket, as this experiment's ASHA "
                f"does; got {[len(rungs) for rungs in saved_rungs]}"
            )
        for bracket, rungs in zip(self._brackets, saved_rungs, strict=True):
            for (milestone, recorded), (saved_milestone, saved) in zip(
                bracket._rungs, rungs, strict=True
            ):
                if milestone == saved_milestone:
                    recorded.update(saved)
        self._num_stopped = num_stopped
        self._saved_version = self._version()
