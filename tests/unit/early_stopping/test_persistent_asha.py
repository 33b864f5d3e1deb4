"""ASHA that keeps its rungs, driven with fake trials and results (no Ray cluster): its
decisions at each rung, the rungs written only when they change, a resumed scheduler pruning
against the saved history, and the private parts of Ray's ASHA it builds on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from raytune_hp.early_stopping.persistent_asha import (
    RUNGS_FILE,
    PersistentASHA,
    StateFileError,
    forget_unknown_trials,
    rungs_json,
)
from raytune_hp.storage import ExperimentStore

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


@dataclass(frozen=True)
class FakeTrial:
    trial_id: str


class CountingStore(ExperimentStore):
    """A real experiment folder that counts the writes into it."""

    def write_bytes(self, name: str, data: bytes) -> None:
        object.__setattr__(self, "writes", getattr(self, "writes", 0) + 1)
        super().write_bytes(name, data)


def _asha(store: Any = None) -> PersistentASHA:
    # Milestones 1, 3 and 9 epochs: a trial continues past a rung when it is in the top third.
    return PersistentASHA(
        store, time_attr="epoch", metric="val_acc", mode="max", max_t=9, grace_period=1,
        reduction_factor=3,
    )  # fmt: skip


def _report(asha: PersistentASHA, trial: str, epoch: int, value: float) -> str:
    return asha.on_trial_result(None, FakeTrial(trial), {"epoch": epoch, "val_acc": value})


def _add(asha: PersistentASHA, *trials: str) -> None:
    for trial in trials:
        asha.on_trial_add(None, FakeTrial(trial))


def test_decisions_at_each_rung() -> None:
    asha = _asha()
    _add(asha, "a", "b", "c", "d")
    assert _report(asha, "a", 1, 0.90) == CONTINUE  # first at the rung: nothing to beat
    assert _report(asha, "b", 1, 0.10) == STOP  # below the top third of {0.90}
    assert _report(asha, "c", 1, 0.95) == CONTINUE
    assert _report(asha, "a", 2, 0.91) == CONTINUE  # between milestones: no decision
    assert _report(asha, "a", 3, 0.93) == CONTINUE
    assert _report(asha, "c", 3, 0.50) == STOP  # the second at rung 3, below a's 0.93
    assert _report(asha, "d", 1, 0.20) == STOP
    milestones = [(m, sorted(r)) for m, r in asha.rungs()[0]]
    assert milestones == [(9, []), (3, ["a", "c"]), (1, ["a", "b", "c", "d"])]
    assert asha._num_stopped == 3


def test_a_resumed_asha_prunes_against_the_saved_rungs(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    first = _asha(store)
    _add(first, "a", "b")
    _report(first, "a", 1, 0.90)
    _report(first, "b", 1, 0.80)
    assert store.exists(RUNGS_FILE)

    resumed = _asha(ExperimentStore(str(tmp_path)))
    _add(resumed, "c")  # the rungs are read back before the first trial is added
    assert resumed.rungs() == first.rungs()
    assert resumed._num_stopped == first._num_stopped
    assert _report(resumed, "c", 1, 0.50) == STOP

    fresh = _asha()  # without the saved rungs, the same result would pass
    _add(fresh, "c")
    assert _report(fresh, "c", 1, 0.50) == CONTINUE


def test_a_trial_the_saved_state_never_named_is_forgotten_before_a_resume(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    first = _asha(store)
    _add(first, "a", "b", "lost")
    _report(first, "a", 1, 0.90)
    _report(first, "b", 1, 0.80)
    _report(first, "lost", 1, 0.99)  # its driver killed before Tune's state named it

    assert forget_unknown_trials(store, {"a", "b"}) == ["lost"]
    resumed = _asha(ExperimentStore(str(tmp_path)))
    _add(resumed, "c")  # the trial Tune's searcher proposes in the lost one's place
    assert sorted(resumed.rungs()[0][-1][1]) == ["a", "b"]
    assert _report(resumed, "c", 1, 0.95) == CONTINUE  # not cut by the dead trial's 0.99
    assert forget_unknown_trials(store, {"a", "b", "c"}) == []  # nothing else to forget


def test_the_rungs_are_written_only_when_they_change(tmp_path: Path) -> None:
    store = CountingStore(str(tmp_path))
    asha = _asha(store)
    _add(asha, "a")
    writes = []
    for epoch in range(1, 10):
        _report(asha, "a", epoch, 0.5)
        writes.append(getattr(store, "writes", 0))
    # Recorded at milestones 1 and 3; at max_t (9) ASHA stops the trial, which counts too.
    assert writes == [1, 1, 2, 2, 2, 2, 2, 2, 3]
    asha.on_trial_complete(None, FakeTrial("a"), {"epoch": 9, "val_acc": 0.5})
    assert getattr(store, "writes", 0) == 4  # the last milestone records the final result


def test_without_a_store_the_rungs_stay_in_memory() -> None:
    asha = _asha(None)
    _add(asha, "a")
    assert _report(asha, "a", 1, 0.5) == CONTINUE
    assert asha.rungs()[0][-1][1] == {"a": 0.5}


def test_the_private_parts_of_rays_asha_it_relies_on_still_exist() -> None:
    # Renamed or removed in a Ray upgrade, these would lose the rungs on resume without an
    # error anywhere else: this test names which one went.
    asha = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=9)
    assert isinstance(asha._num_stopped, int), "ASHAScheduler._num_stopped changed"
    assert isinstance(asha._brackets, list) and asha._brackets, "ASHAScheduler._brackets changed"
    for milestone, recorded in asha._brackets[0]._rungs:
        assert isinstance(milestone, (int, float)) and isinstance(recorded, dict)
    for name in ("on_trial_add", "on_trial_result", "on_trial_complete"):
        assert callable(getattr(ASHAScheduler, name, None)), f"ASHAScheduler.{name} is gone"


def test_the_rungs_are_plain_json_and_a_damaged_file_is_one_clear_error(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    asha = _asha(store)
    _add(asha, "a")
    _report(asha, "a", 1, 0.9)
    saved = json.loads((tmp_path / RUNGS_FILE).read_text())
    assert saved["version"] == 1 and saved["num_stopped"] == 0

    for text, rule in [
        (b"\x80\x04K\x01.", "must be JSON"),  # a pickle
        (b'{"version": 1, "rungs": {}, "num_stopped": 0}', "rungs must be a list"),
        (b'{"version": 2, "rungs": [], "num_stopped": 0}', "version must be 1"),
        (b'{"version": 1, "rungs": [[[1, {"a": 1}]]], "num_stopped": -1}', "num_stopped must"),
    ]:
        (tmp_path / RUNGS_FILE).write_bytes(text)
        with pytest.raises(StateFileError, match=rule) as caught:
            _add(_asha(ExperimentStore(str(tmp_path))), "b")
        assert str(tmp_path / RUNGS_FILE) in str(caught.value)
        assert "\n" not in str(caught.value)


def test_rungs_of_another_shape_are_refused(tmp_path: Path) -> None:
    (tmp_path / RUNGS_FILE).write_text(rungs_json([[(1, {})]], 0))
    with pytest.raises(StateFileError, match="rungs per bracket"):
        _add(_asha(ExperimentStore(str(tmp_path))), "a")
