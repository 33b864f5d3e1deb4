"""The budget in Ray Tune's terms, driven as Ray drives them (no Ray session): the searcher
wrapper proposing only what fits and FINISHED once the budget is spent, the stopper cutting
trials and keeping budget.json, both pickled and restored together as the Tuner's state is, and
Ray's own saving of a searcher's wrappers."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray.cloudpickle
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.search_generator import SearchGenerator

from raytune_hp.budget import BudgetLedger, BudgetRecord
from raytune_hp.budget.tune_hooks import BudgetSearcher, BudgetStopper
from raytune_hp.storage import BUDGET_FILE, ExperimentStore


class Counting(Searcher):  # type: ignore[misc]
    """A searcher that proposes ``{"n": 0}``, ``{"n": 1}``, ... and remembers what ended."""

    def __init__(self) -> None:
        super().__init__(metric="val_acc", mode="max")
        self.proposed, self.ended = 0, []

    def suggest(self, trial_id: str) -> dict[str, Any]:
        self.proposed += 1
        return {"n": self.proposed - 1}

    def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
        self.ended.append(trial_id)

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(pickle.dumps((self.proposed, self.ended)))

    def restore(self, checkpoint_path: str) -> None:
        self.proposed, self.ended = pickle.loads(Path(checkpoint_path).read_bytes())


@dataclass
class FakeTrial:
    trial_id: str
    status: str = "RUNNING"
    last_result: dict[str, Any] = field(default_factory=dict)


def _budget(tmp_path: Path, limit: float = 8, unit: str = "epochs") -> BudgetStopper:
    stopper = BudgetStopper(
        BudgetLedger(unit, limit, max_epochs=4),
        ExperimentStore(str(tmp_path)),
        "",  # type: ignore[arg-type]
    )
    stopper.setup()
    return stopper


def test_the_searcher_proposes_what_fits_then_finishes(tmp_path: Path) -> None:
    budget = _budget(tmp_path)  # 8 epochs, 4 a trial
    inner = Counting()
    searcher = BudgetSearcher(ConcurrencyLimiter(inner, max_concurrent=4), budget)
    assert searcher.suggest("a") == {"n": 0}
    assert searcher.suggest("b") == {"n": 1}
    assert searcher.suggest("c") is None  # a and b may still train 8 epochs: no room
    assert inner.proposed == 2  # the searcher itself was not asked
    assert not any(budget(t, {"epoch": e}) for e in (1, 2) for t in "ab")
    searcher.on_trial_complete("b", {"epoch": 2})  # stopped early: its last 2 epochs are free
    assert searcher.suggest("c") == {"n": 2}  # 4 spent + 2 that a may still train < 8
    assert not budget("a", {"epoch": 3}) and not budget("c", {"epoch": 1})
    assert not budget("a", {"epoch": 4})  # a completes: 7 spent
    assert budget("c", {"epoch": 2})  # 8 spent: c's third epoch would not fit, it stops here
    searcher.on_trial_complete("a", {"epoch": 4})
    searcher.on_trial_complete("c", {"epoch": 2})
    assert inner.ended == ["b", "a", "c"] and budget.ledger.cut == {"c"}
    assert searcher.suggest("d") == Searcher.FINISHED


def test_the_searcher_says_finished_once_the_budget_is_spent(tmp_path: Path) -> None:
    budget = _budget(tmp_path, limit=4)  # one trial's 4 epochs
    searcher = BudgetSearcher(Counting(), budget)
    assert searcher.suggest("a") == {"n": 0}
    for epoch in (1, 2, 3):
        assert not budget("a", {"epoch": epoch})
        assert searcher.suggest("b") is None  # what a may still train fills the budget
    assert not budget("a", {"epoch": 4})
    assert searcher.suggest("b") == Searcher.FINISHED
    record = json.loads((tmp_path / BUDGET_FILE).read_text())
    assert record["exhausted"] == {"": 4.0}  # written at once, before Ray ends the run


def test_a_cut_trial_is_written_down_at_once(tmp_path: Path) -> None:
    budget = _budget(tmp_path, limit=5)
    budget.ledger.started("a")
    budget.ledger.started("b")
    assert not budget("a", {"epoch": 1, "time_this_iter_s": 2.0})
    assert not budget("b", {"training_iteration": 1})  # a function that reports no "epoch"
    assert not budget("a", {"epoch": 2})
    assert budget("b", {"epoch": 2})  # 4 spent, a is training its third: b's would not fit
    assert BudgetRecord.read(ExperimentStore(str(tmp_path))).cut == {"": ["b"]}
    assert budget.spending() == (4, 5, "epochs")


def test_each_step_brings_the_ledger_up_to_ray(tmp_path: Path) -> None:
    budget = _budget(tmp_path, limit=20)
    trials = [FakeTrial("a", "TERMINATED", {"epoch": 4}), FakeTrial("b", "PENDING", {"epoch": 1})]
    budget.on_step_begin(0, trials)
    assert budget.spending()[0] == 5
    assert budget.may_start()  # 5 + 3 that b may still train < 20


def test_time_is_kept_across_sessions_and_up_at_the_limit(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    BudgetRecord(50.0, {"": ["old"]}).write(store)
    now = [0.0]
    budget = BudgetStopper(BudgetLedger("seconds", 60, 4, clock=lambda: now[0]), store, "")
    budget.setup()
    assert budget.ledger.elapsed() == 50 and budget.ledger.cut == {"old"}
    budget.on_step_begin(0, [FakeTrial("a")])
    now[0] = 5.0
    assert not budget.stop_all()
    now[0] = 10.0
    assert budget.stop_all()  # 60 s: every trial still training is stopped, mid-epoch
    record = BudgetRecord.read(store)
    assert record.seconds == 60 and record.cut == {"": ["a", "old"]}
    assert record.exhausted == {"": 60}


def test_searcher_and_stopper_come_back_sharing_one_ledger(tmp_path: Path) -> None:
    budget = _budget(tmp_path)
    searcher = BudgetSearcher(ConcurrencyLimiter(Counting(), 2), budget)
    # The Tuner's state holds both (search_alg in the tune config, stop and callbacks in the
    # run config) in one pickle.
    restored_searcher, restored_budget = ray.cloudpickle.loads(
        ray.cloudpickle.dumps((searcher, budget))
    )
    assert restored_searcher.budget is restored_budget
    restored_budget.setup()
    restored_budget.ledger.started("x")
    assert "x" in restored_searcher.budget.ledger._live


def test_the_copy_ray_resumes_with_as_its_stopper_hands_over_to_the_shared_one(
    tmp_path: Path,
) -> None:
    # Ray pickles its stopper into its experiment state, apart from the Tuner's state, and a
    # resumed run calls that copy; the callbacks and the searcher hold the Tuner state's one.
    shared = BudgetStopper(BudgetLedger("epochs", 3, 4), ExperimentStore(str(tmp_path)), "")
    copy = pickle.loads(pickle.dumps(shared))
    shared.setup()
    searcher = BudgetSearcher(Counting(), shared)
    searcher.suggest("a")
    searcher.suggest("b")
    assert not copy("a", {"epoch": 1}) and not copy("b", {"epoch": 1})
    assert copy("a", {"epoch": 2})  # 3 spent: the shared ledger counted every epoch
    assert shared.spending()[0] == 3 and shared.ledger.cut == {"a"}
    assert copy.ledger.spent() == 0  # the copy's own ledger is never used


def test_ray_saves_and_restores_the_wrapped_searcher(tmp_path: Path) -> None:
    inner = Counting()
    generator = SearchGenerator(BudgetSearcher(ConcurrencyLimiter(inner, 2), _budget(tmp_path)))
    inner.suggest("a")
    generator.save_to_dir(str(tmp_path), session_str="s")
    again = Counting()
    SearchGenerator(
        BudgetSearcher(ConcurrencyLimiter(again, 2), _budget(tmp_path))
    ).restore_from_dir(str(tmp_path))
    assert again.proposed == 1
