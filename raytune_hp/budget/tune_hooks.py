"""The budget enforced in Ray Tune: a stopper that is also a callback, and a searcher wrapper.

:class:`BudgetStopper` is handed to Ray Tune both as the run's stopper (``RunConfig(stop=...)``,
which sees every result before early stopping does and can end the whole run) and as a callback
(which sees the run start, every step's trials and every trial's end); it keeps the run's
:class:`~raytune_hp.budget.ledger.BudgetLedger` and writes what it spent to ``budget.json``.
:class:`BudgetSearcher` wraps the strategy's searcher: it proposes nothing while the budget has
no room for a trial and :data:`Searcher.FINISHED` once it is spent, so the searcher itself sees
nothing new. Both are pickled with the Tuner's state in one piece, so a resumed run's searcher
and stopper still share one ledger, which :meth:`BudgetStopper.setup` brings up to date from the
experiment folder. Ray also keeps its stopper in its own experiment state and resumes with that
copy as the stopper; the copy hands every call over to the stopper the callbacks and the searcher
share (found by a key both carry).

Ray's own ``TuneConfig(time_budget_s=...)`` is not used: it stops every trial at the deadline
without saying which (they read as stopped early by ASHA), counts no epochs, and starts counting
again from zero on resume.

Example:
    >>> from raytune_hp.budget.ledger import BudgetLedger
    >>> stopper = BudgetStopper(BudgetLedger("epochs", 10, 4), store=None, folder="")
    >>> stopper.setup()
    >>> stopper.ledger.started("a")
    >>> stopper("a", {"epoch": 1, "time_this_iter_s": 0.5}), stopper.spending()
    (False, (1, 10, 'epochs'))
"""

from __future__ import annotations

import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.search import Searcher
from ray.tune.search.util import _set_search_properties_backwards_compatible

from raytune_hp.budget.ledger import BudgetLedger, BudgetRecord
from raytune_hp.metrics import EPOCH
from raytune_hp.storage import ExperimentStore
from raytune_hp.values import is_finite

_RUNNING: weakref.WeakValueDictionary[str, BudgetStopper] = weakref.WeakValueDictionary()
"""The stopper of each run under way in this process (set up by Ray as a callback), by key."""
SAVE_EVERY_S = 10.0
"""How often the wall time spent is written to ``budget.json`` while a run trains (and at its
end, and whenever a trial is cut): what a driver killed outright loses of it, at most."""


class BudgetStopper(Stopper, Callback):  # type: ignore[misc]
    """Stops trials at the budget's end and keeps ``budget.json`` (see the module).

    Args:
        ledger: the run's budget.
        store: the experiment folder (the top one, whatever the run), or ``None`` to keep
            nothing.
        folder: the run's folder in it: ``""``, a phase, or ``more-<k>``.
    """

    def __init__(self, ledger: BudgetLedger, store: ExperimentStore | None, folder: str) -> None:
        self.ledger, self.store, self.folder = ledger, store, folder
        self._record = BudgetRecord()
        self._saved = 0.0
        self._key = uuid.uuid4().hex

    def _current(self) -> BudgetStopper:
        """The stopper the run's callbacks and searcher share: this one, or, for the copy Ray
        resumes with as the stopper (from its experiment state), the one it was copied from."""
        return _RUNNING.get(self._key, self)

    # --- the stopper ------------------------------------------------------------------------

    def __call__(self, trial_id: str, result: Mapping[str, Any]) -> bool:
        current = self._current()
        if current is not self:
            return current(trial_id, result)
        epoch: Any = result.get(EPOCH, result.get("training_iteration"))
        if not is_finite(epoch):
            return False
        seconds: Any = result.get("time_this_iter_s")
        cut = self.ledger.result(
            str(trial_id), int(epoch), float(seconds) if is_finite(seconds) else 0.0
        )
        if cut:
            self.save()
        return cut

    def stop_all(self) -> bool:
        """Ends the run, stopping every trial mid-epoch, once the budget's time is up."""
        current = self._current()
        if current is not self:
            return current.stop_all()
        if self.ledger.hard_stop():
            self.ledger.exhausted = True
            self.save()
            return True
        return False

    # --- the callback -----------------------------------------------------------------------

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        """The run starts or resumes: the time spent so far and the trials already cut are read
        back from the experiment folder."""
        _RUNNING[self._key] = self
        if self.store is not None:
            self._record = BudgetRecord.read(self.store)
        self.ledger.start(self._record.seconds, self._record.cut.get(self.folder, ()))
        self.ledger.exhausted = self.folder in self._record.exhausted
        self._saved = time.monotonic()

    def on_step_begin(self, iteration: int, trials: Sequence[Any], **info: Any) -> None:
        self.ledger.sync(
            (str(t.trial_id), str(t.status), _epochs(getattr(t, "last_result", None)))
            for t in trials
        )

    def on_step_end(self, iteration: int, trials: Sequence[Any], **info: Any) -> None:
        if time.monotonic() - self._saved >= SAVE_EVERY_S:
            self.save()

    def on_trial_complete(
        self, iteration: int, trials: Sequence[Any], trial: Any, **info: Any
    ) -> None:
        self.ledger.ended(str(trial.trial_id))

    def on_trial_error(
        self, iteration: int, trials: Sequence[Any], trial: Any, **info: Any
    ) -> None:
        self.ledger.ended(str(trial.trial_id))

    def on_experiment_end(self, trials: Sequence[Any], **info: Any) -> None:
        self.save()

    # --- for the searcher and the progress line ---------------------------------------------

    def may_start(self) -> bool:
        """Whether a new trial fits the budget now."""
        return self.ledger.may_start()

    def finished(self) -> bool:
        """Whether the budget is spent and no trial is left training (written down at once)."""
        was = self.ledger.exhausted
        if self.ledger.finished() and not was:
            self.save()
        return self.ledger.exhausted

    def spending(self) -> tuple[float, float, str]:
        """What was spent, the limit, and their unit (``epochs`` or ``seconds``)."""
        return self.ledger.spent(), self.ledger.limit, self.ledger.unit

    def save(self) -> None:
        """Writes the wall time spent, the trials cut and whether the budget ran out."""
        self._saved = time.monotonic()
        if self.store is None:
            return
        record = self._record
        record.seconds = self.ledger.elapsed()
        if self.ledger.cut:
            record.cut[self.folder] = sorted(self.ledger.cut)
        if self.ledger.exhausted:
            record.exhausted[self.folder] = self.ledger.limit
        record.write(self.store)


def _epochs(result: Mapping[str, Any] | None) -> int:
    value: Any = (result or {}).get(EPOCH)
    return int(value) if is_finite(value) else 0


class BudgetSearcher(Searcher):  # type: ignore[misc]
    """``searcher`` (the strategy's, behind its concurrency limit), proposing only what the
    budget kept by ``budget`` has room for, and :data:`Searcher.FINISHED` once it is spent."""

    def __init__(self, searcher: Searcher, budget: BudgetStopper) -> None:
        self.searcher, self.budget = searcher, budget
        super().__init__(metric=searcher.metric, mode=searcher.mode)

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        return bool(
            _set_search_properties_backwards_compatible(
                self.searcher.set_search_properties, metric, mode, config, **spec
            )
        )

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        return bool(self.searcher.set_max_concurrency(max_concurrent))

    def suggest(self, trial_id: str) -> Any:
        if self.budget.finished():
            return Searcher.FINISHED
        if not self.budget.may_start():
            return None  # asked again every step: a running trial may end and make room
        suggestion = self.searcher.suggest(trial_id)
        if suggestion is not None and suggestion != Searcher.FINISHED:
            self.budget.ledger.started(trial_id)
        return suggestion

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        self.searcher.on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        self.budget.ledger.ended(trial_id)
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def add_evaluated_point(self, *args: Any, **kwargs: Any) -> None:
        self.searcher.add_evaluated_point(*args, **kwargs)

    def add_evaluated_trials(self, *args: Any, **kwargs: Any) -> None:
        self.searcher.add_evaluated_trials(*args, **kwargs)

    def get_state(self) -> dict[str, Any]:
        # Ray saves each wrapper's state beside the searcher it wraps; this one has none of its
        # own: its budget comes back with the Tuner's state and reads the rest from the folder.
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass
