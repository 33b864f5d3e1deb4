"""What a run may spend of the budget and has spent, and the rules that keep it within.

A :class:`BudgetLedger` is plain Python (Ray's side, :mod:`raytune_hp.budget.tune_hooks`, feeds
it Ray's trials and results): it says whether a new trial may start, whether a trial may go on
after an epoch, and when the run is over. :class:`BudgetRecord` is what the experiment folder
keeps of it (``budget.json``), so that a resumed run counts on from what was spent.

The rules, for a run whose budget (its share, for a phase) is ``limit``:

- **Epochs.** A trial may train every epoch up to ``max_epochs``, so a new trial starts only
  while the epochs spent plus all that the running trials may still train leave at least one
  epoch. A trial goes on after an epoch only while that epoch, one for each other running trial
  (the epoch it is training) and its own next one fit; otherwise it is stopped there, *at the
  budget's end*. So the epochs spent never exceed the budget.
- **Time.** Wall time counts from each session's start, on top of the time spent before
  (``budget.json``). A new trial starts while an epoch of the length seen so far still fits; a
  trial goes on while its next epoch, as long as its last one, fits. At the budget's end every
  trial still training is stopped, *at the budget's end*, mid-epoch if it must.

Example:
    >>> ledger = BudgetLedger("epochs", limit=10, max_epochs=4)
    >>> ledger.start()
    >>> ledger.may_start(), ledger.started("a"), ledger.started("b"), ledger.may_start()
    (True, None, None, True)
    >>> ledger.started("c"), ledger.may_start()
    (None, False)
    >>> [ledger.result("a", 1), ledger.result("b", 1), ledger.result("c", 1)]
    [False, False, False]
    >>> [ledger.result("a", 2), ledger.result("b", 2), ledger.result("c", 2)]
    [False, False, False]
    >>> [ledger.result("a", 3), ledger.result("b", 3), ledger.result("c", 3)]
    [False, True, True]
    >>> ledger.spent(), sorted(ledger.cut)
    (9, ['b', 'c'])
    >>> ledger.result("a", 4), ledger.ended("a"), ledger.spent(), ledger.finished()
    (False, None, 10, True)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from raytune_hp.storage import BUDGET_FILE, ExperimentStore

Unit = Literal["epochs", "seconds"]
_ENDED = ("TERMINATED", "ERROR")  # Ray's statuses of a trial that will not train again


@dataclass
class BudgetRecord:
    """What ``budget.json`` holds: the wall time the experiment's runs have taken (``seconds``),
    the trials stopped at the budget's end (``cut``: Ray's trial ids, by run folder: ``""`` for
    the top, a phase, ``more-1``, ...) and the runs whose budget ran out, with the limit they
    had (``exhausted``, by run folder: a larger budget has room again).

    Example:
        >>> record = BudgetRecord.from_json('{"seconds": 61.5, "cut": {"": ["ab12"]}}')
        >>> record.seconds, record.cut_ids(), record.exhausted
        (61.5, {'ab12'}, {})
        >>> record.ran_out(400), BudgetRecord(exhausted={"": 400.0}).ran_out(400)
        (False, True)
    """

    seconds: float = 0.0
    cut: dict[str, list[str]] = field(default_factory=dict)
    exhausted: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str) -> BudgetRecord:
        data = json.loads(text)
        return cls(
            float(data.get("seconds", 0.0)),
            {str(k): [str(t) for t in v] for k, v in dict(data.get("cut", {})).items()},
            {str(k): float(v) for k, v in dict(data.get("exhausted", {})).items()},
        )

    @classmethod
    def read(cls, store: ExperimentStore) -> BudgetRecord:
        """The experiment's record; an empty one where it has none (or it cannot be read)."""
        if not store.exists(BUDGET_FILE):
            return cls()
        try:
            return cls.from_json(store.read_text(BUDGET_FILE))
        except (ValueError, TypeError, AttributeError):
            return cls()

    def write(self, store: ExperimentStore) -> None:
        data = {"seconds": round(self.seconds, 3), "cut": self.cut, "exhausted": self.exhausted}
        store.write_text(BUDGET_FILE, json.dumps(data, indent=2) + "\n")

    def cut_ids(self) -> set[str]:
        """Every trial stopped at the budget's end, in any run."""
        return {trial for trials in self.cut.values() for trial in trials}

    def ran_out(self, limit: float) -> bool:
        """Whether a run ran out of a budget of ``limit`` (or more): nothing more fits in it."""
        return any(spent >= limit for spent in self.exhausted.values())


@dataclass
class BudgetLedger:
    """One run's budget: ``limit`` in ``unit`` (epochs, or seconds of wall time), counted from
    the experiment's start, so that it includes ``spent_before`` epochs of its earlier runs (or
    the ``seconds_before`` they and earlier sessions took: :meth:`start` sets them); trials train
    ``max_epochs`` at most. The rules are the module's.

    Args:
        unit: ``epochs`` or ``seconds``.
        limit: the most the experiment may have spent when this run ends.
        max_epochs: the most epochs one trial trains.
        spent_before: epochs the experiment's earlier runs (other folders) trained.
        clock: seconds, for wall time.
    """

    unit: Unit
    limit: float
    max_epochs: int
    spent_before: int = 0
    clock: Callable[[], float] = time.monotonic
    seconds_before: float = 0.0
    cut: set[str] = field(default_factory=set)
    exhausted: bool = False
    _epochs: dict[str, int] = field(default_factory=dict)
    _epoch_seconds: dict[str, float] = field(default_factory=dict)
    _live: set[str] = field(default_factory=set)
    _session_start: float | None = None

    def start(self, seconds_before: float = 0.0, cut: Iterable[str] = ()) -> None:
        """A session of the run starts (or resumes, after ``seconds_before`` of wall time spent
        and with the trials ``cut`` already)."""
        self.seconds_before, self.cut = seconds_before, set(cut)
        self._session_start = self.clock()

    # --- what was spent -----------------------------------------------------------------------

    def elapsed(self) -> float:
        """Seconds of wall time spent, earlier sessions and runs included."""
        since = 0.0 if self._session_start is None else self.clock() - self._session_start
        return self.seconds_before + since

    def spent_epochs(self) -> int:
        """Epochs trained, the experiment's earlier runs included."""
        return self.spent_before + sum(self._epochs.values())

    def spent(self) -> float:
        """What was spent, in :attr:`unit`."""
        return self.spent_epochs() if self.unit == "epochs" else self.elapsed()

    # --- what Ray says ------------------------------------------------------------------------

    def sync(self, trials: Iterable[tuple[str, str, int]]) -> None:
        """Brings the run's trials up to date: ``(trial id, Ray's status, epochs trained)`` each.
        Ray's word on which trials are live is final (restored ones included)."""
        live = set()
        for trial_id, status, epochs in trials:
            self._epochs[trial_id] = max(self._epochs.get(trial_id, 0), epochs)
            training = status not in _ENDED and self._epochs[trial_id] < self.max_epochs
            if training and trial_id not in self.cut:
                live.add(trial_id)
        self._live = live

    def started(self, trial_id: str) -> None:
        """The searcher proposed ``trial_id``: it will train at least one epoch."""
        self._live.add(trial_id)
        self._epochs.setdefault(trial_id, 0)

    def ended(self, trial_id: str) -> None:
        """``trial_id`` completed, was stopped, or failed for good."""
        self._live.discard(trial_id)

    def result(self, trial_id: str, epoch: int, seconds: float = 0.0) -> bool:
        """``trial_id`` trained ``epoch`` (its epoch number) in ``seconds``: whether it must stop
        here, at the budget's end (then it is in :attr:`cut`)."""
        self._epochs[trial_id] = max(self._epochs.get(trial_id, 0), epoch)
        if seconds > 0:
            self._epoch_seconds[trial_id] = seconds
        if epoch >= self.max_epochs:
            self._live.discard(trial_id)  # it ends here anyway: Ray says so a step later
            return False
        if trial_id not in self._live:
            return False  # Ray is done with it
        if self.unit == "epochs":
            training = len(self._live - {trial_id})  # an epoch under way each
            fits = self.spent_epochs() + training + 1 <= self.limit
        else:
            fits = self.elapsed() + self._epoch_seconds.get(trial_id, 0.0) <= self.limit
        if fits:
            return False
        self.cut.add(trial_id)
        self._live.discard(trial_id)
        return True

    # --- the rules ----------------------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether a new trial may start now."""
        if self.unit == "epochs":
            may_train = sum(self.max_epochs - self._epochs.get(t, 0) for t in self._live)
            return self.spent_epochs() + may_train < self.limit
        seen = list(self._epoch_seconds.values())
        epoch = sum(seen) / len(seen) if seen else 0.0
        return self.elapsed() + epoch <= self.limit and self.elapsed() < self.limit

    def finished(self) -> bool:
        """Whether the run is over: no trial is live and none may start (the budget is spent)."""
        if not self._live and not self.may_start():
            self.exhausted = True
        return self.exhausted

    def hard_stop(self) -> list[str]:
        """The live trials to stop now, mid-epoch, because the budget is spent (then in
        :attr:`cut`): every one once the time is up (or once the epochs are, which happens only
        to trials resumed after the budget ran out)."""
        if not self._live or self.spent() < self.limit:
            return []
        stopped = sorted(self._live)
        self.cut |= self._live
        self._live = set()
        return stopped

    def left(self) -> float:
        """What is left of the budget, in :attr:`unit` (0 when it is spent)."""
        return max(0.0, self.limit - self.spent())
