"""The rules that keep a run within its budget, driven like Ray drives them (trials proposed,
epochs reported in any order, trials ending early), and what the folder keeps of them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from raytune_hp.budget import BudgetLedger, BudgetRecord, budget_ledger, has_room
from raytune_hp.config import config_from
from raytune_hp.storage import BUDGET_FILE, ExperimentStore


def _simulate(
    limit: int, max_epochs: int, concurrency: int, early: float, seed: int
) -> tuple[BudgetLedger, dict[str, int], set[str]]:
    """A run as Ray makes it: trials start while there is a slot and the ledger allows; one
    live trial at random reports its next epoch; early stopping ends a trial at random. Returns
    the ledger, the epochs each trial trained (counted here, not by the ledger), and the trials
    early stopping ended."""
    rng, ledger = random.Random(seed), BudgetLedger("epochs", limit, max_epochs)
    ledger.start()
    trained: dict[str, int] = {}
    live: list[str] = []
    stopped_early: set[str] = set()
    while True:
        while len(live) < concurrency and not ledger.finished() and ledger.may_start():
            trial = str(len(trained))
            ledger.started(trial)
            trained[trial] = 0
            live.append(trial)
        if not live:
            assert ledger.finished()
            return ledger, trained, stopped_early
        trial = rng.choice(live)
        trained[trial] += 1
        assert sum(trained.values()) <= limit  # never an epoch beyond the budget
        if ledger.result(trial, trained[trial]):
            live.remove(trial)
        elif trained[trial] == max_epochs or rng.random() < early:
            if trained[trial] < max_epochs:
                stopped_early.add(trial)
            live.remove(trial)
            ledger.ended(trial)


@pytest.mark.parametrize("concurrency", [1, 2, 4, 8])
@pytest.mark.parametrize("early", [0.0, 0.3, 0.7])
def test_an_epoch_budget_is_spent_to_the_epoch_and_never_beyond(
    concurrency: int, early: float
) -> None:
    for seed in range(20):
        ledger, trained, stopped_early = _simulate(60, 6, concurrency, early, seed)
        assert sum(trained.values()) == ledger.spent() == 60
        # A cut trial had epochs left; it was stopped by the budget, not by early stopping.
        assert all(trained[t] < 6 for t in ledger.cut) and not ledger.cut & stopped_early


def test_early_stopping_buys_more_trials_with_the_same_epochs() -> None:
    runs = {
        early: [len(_simulate(120, 12, 2, early, s)[1]) for s in range(10)] for early in (0, 0.3)
    }
    assert min(runs[0.3]) > max(runs[0])
    assert set(runs[0]) <= {10, 11}  # 120 / 12, and at most one more that the budget cuts


def test_a_new_trial_starts_only_while_the_running_ones_leave_an_epoch() -> None:
    ledger = BudgetLedger("epochs", 12, max_epochs=4)
    ledger.start()
    ledger.started("a")
    ledger.started("b")
    assert ledger.may_start()  # 4 + 4 may still be trained: 4 epochs are free
    ledger.started("c")
    assert not ledger.may_start()
    for epoch in (1, 2):
        assert not any(ledger.result(t, epoch) for t in "abc")
    ledger.ended("c")  # stopped early at 2: what it might have trained is free again
    assert ledger.spent() == 6 and ledger.may_start()  # 6 spent + 2 + 2 may still be trained


def test_a_trial_at_its_last_epoch_is_never_cut() -> None:
    ledger = BudgetLedger("epochs", 4, max_epochs=4)
    ledger.start()
    ledger.started("a")
    assert [ledger.result("a", e) for e in (1, 2, 3, 4)] == [False] * 4
    assert ledger.cut == set() and ledger.finished()


def test_a_time_budget_starts_and_continues_only_what_fits(tmp_path: Path) -> None:
    now = [100.0]
    ledger = BudgetLedger("seconds", 60, max_epochs=10, clock=lambda: now[0])
    ledger.start(seconds_before=20)  # 20 s spent in an earlier session
    assert ledger.elapsed() == 20 and ledger.may_start()
    ledger.started("a")
    ledger.started("b")
    now[0] += 15
    assert not ledger.result("a", 1, seconds=15)  # at 35 s a 15 s epoch ends by 50 s
    now[0] += 10
    assert ledger.result("b", 1, seconds=25)  # at 45 s a 25 s epoch would end past 60 s
    assert ledger.cut == {"b"}
    assert not ledger.may_start()  # an epoch of 20 s on average no longer fits
    now[0] += 5
    assert ledger.hard_stop() == []  # 50 s: time is not up
    now[0] += 10
    assert ledger.hard_stop() == ["a"] and ledger.cut == {"a", "b"}
    assert ledger.finished() and ledger.left() == 0


def test_a_resumed_run_counts_on_from_what_ray_restored() -> None:
    ledger = BudgetLedger("epochs", 14, max_epochs=4, spent_before=5)
    ledger.start(cut=["z"])
    ledger.sync([("a", "TERMINATED", 4), ("b", "PENDING", 2), ("z", "TERMINATED", 1)])
    assert ledger.spent() == 5 + 4 + 2 + 1 and ledger.cut == {"z"}
    assert not ledger.may_start()  # b may still train 2: 12 + 2 leaves no epoch
    assert not ledger.result("b", 3) and not ledger.result("b", 4)
    ledger.ended("b")
    assert ledger.spent() == 14 and ledger.finished()


def test_a_run_resumed_past_its_budget_stops_what_ray_restarts() -> None:
    ledger = BudgetLedger("epochs", 10, max_epochs=4, spent_before=10)
    ledger.start()
    ledger.sync([("a", "RUNNING", 1)])
    assert ledger.hard_stop() == ["a"] and ledger.finished()


def test_a_run_gets_its_share_of_the_budget_after_the_earlier_runs() -> None:
    config = config_from({"name": "x", "search": {"budget": "400 epochs"}})
    coarse = budget_ledger(config, share=0.5)
    fine = budget_ledger(config, spent_before=198)
    assert (coarse.limit, fine.limit, fine.spent()) == (200, 400, 198)
    with pytest.raises(ValueError, match=r"search\.budget"):
        budget_ledger(config_from({"name": "x"}))


def test_the_record_is_written_and_read_back(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    assert BudgetRecord.read(store) == BudgetRecord()
    record = BudgetRecord(61.25, {"": ["a1"], "fine": ["f2"]}, {"coarse": 200.0})
    record.write(store)
    assert BudgetRecord.read(store) == record
    assert record.cut_ids() == {"a1", "f2"}
    assert record.ran_out(200) and not record.ran_out(400)
    (tmp_path / BUDGET_FILE).write_text("{not json")
    assert BudgetRecord.read(store) == BudgetRecord()  # a torn file: nothing known, not a crash


def test_room_is_what_the_budget_has_left_that_no_run_ran_out_of() -> None:
    epochs = config_from({"name": "x", "search": {"budget": "400 epochs"}})
    assert has_room(epochs, 399, BudgetRecord())
    assert not has_room(epochs, 400, BudgetRecord())
    hour = config_from({"name": "x", "search": {"budget": "1 hour"}})
    assert has_room(hour, 10_000, BudgetRecord(seconds=3000))
    # Stopped at 3590 s because no epoch fitted: no room, until the budget grows.
    assert not has_room(hour, 0, BudgetRecord(3590, exhausted={"": 3600}))
    two_hours = config_from({"name": "x", "search": {"budget": "2 hours"}})
    assert has_room(two_hours, 0, BudgetRecord(3590, exhausted={"": 3600}))
    assert has_room(config_from({"name": "x"}), 10**6, BudgetRecord())  # trials are counted
