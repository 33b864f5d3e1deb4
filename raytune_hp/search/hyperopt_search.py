"""The bayes and random strategies' Ray Tune searcher: HyperOpt on the tables' conditional space.

Ray's ``HyperOptSearch`` converts starting points itself and cannot follow nested choices (the lr
under each optimizer): it fails on them. This subclass takes starting points already in
HyperOpt's own label/index form (:func:`raytune_hp.spaces.to_hyperopt_point`), can put finished
trials of earlier experiments into TPE's history before the first suggestion (a warm start), and
hands every trial a flat configuration.

It also learns at comparable fidelity. Ray hands a searcher only each trial's *last* result, so
under ASHA TPE would rank the epoch-2 score of a pruned trial against the epoch-18 score of a
survivor, and drift towards configurations that start fast. Given ``rungs`` (the epochs ASHA
compares trials at), this searcher records every trial's score (its best epoch so far) at each
rung it reaches, and models each proposal on the highest rung that ``min_points`` trials have
reached, as BOHB does (Falkner et al. 2018): a pruned trial counts at the rung it reached, not as
if it were final.

It relies on three private parts of Ray's ``HyperOptSearch`` (``_setup_hyperopt``,
``_convert_categories_to_indices``, ``_hpopt_trials``); ``tests/unit/search`` fails loudly when a
Ray upgrade removes one.

Example:
    >>> from hyperopt import hp
    >>> searcher = TablesHyperOptSearch(
    ...     space={"dropout": hp.uniform("dropout", 0.0, 0.5)}, metric="val_acc", mode="max",
    ...     points_to_evaluate=[{"dropout": 0.5}], random_state_seed=0,
    ...     history=[({"dropout": 0.1}, -0.9)])
    >>> searcher.suggest("t0")
    {'dropout': 0.5}
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from ray.tune.search.hyperopt import HyperOptSearch

# Registers HyperOpt's truncated priors, which a searcher unpickled on resume looks up by name.
import raytune_hp.spaces.truncated  # noqa: F401
from raytune_hp.metrics import EPOCH
from raytune_hp.spaces import flatten


class TablesHyperOptSearch(HyperOptSearch):  # type: ignore[misc]
    """``HyperOptSearch`` over a native conditional space, with a history of finished trials,
    learning at ASHA's rungs.

    Args:
        history: ``(point, loss)`` pairs, ``point`` in HyperOpt's label/index form and ``loss``
            what TPE minimises (the metric, negated when higher is better); they count as
            trained to the last rung.
        sampler: ``tpe`` (model-based after ``n_initial_points``) or ``random`` (HyperOpt's
            random sampler throughout, from the space's prior).
        prior_weight: how much the prior counts in TPE's densities against the observations.
        rungs: the epochs trials are compared at, ascending (ASHA's milestones and the last
            epoch); empty: TPE sees each trial's last result only (Ray's way).
        min_points: trials a rung needs before TPE models on it (default: the start-up trials).
        **kwargs: ``HyperOptSearch``'s own arguments; ``points_to_evaluate`` in HyperOpt's form.
    """

    algo: Any  # HyperOpt's suggest function (set, untyped, by Ray's HyperOptSearch)

    def __init__(
        self,
        *,
        history: Sequence[tuple[dict[str, Any], float]] = (),
        sampler: Literal["tpe", "random"] = "tpe",
        prior_weight: float = 1.0,
        rungs: Sequence[float] = (),
        min_points: int | None = None,
        **kwargs: Any,
    ) -> None:
        # Set before HyperOptSearch.__init__, which builds the trials history.
        self._history = list(history)
        self._rungs = tuple(rungs)
        self._min_points = min_points or kwargs.get("n_initial_points") or 20
        self._scores: dict[int, list[tuple[float, float]]] = {}  # tid: (epoch, best loss so far)
        self.modelled_rung: float | None = None
        super().__init__(**kwargs)
        import hyperopt

        if sampler == "random":
            self.algo = hyperopt.rand.suggest
            self._rungs = ()
        else:
            self.algo = partial(self.algo, prior_weight=prior_weight)

    def _convert_categories_to_indices(self, config: dict[str, Any]) -> None:
        # Points arrive converted by spaces.to_hyperopt_point; Ray's own conversion cannot follow
        # nested choices and fails on them.
        return None

    def _setup_hyperopt(self) -> None:
        from hyperopt.base import JOB_STATE_DONE
        from hyperopt.fmin import generate_trial

        super()._setup_hyperopt()
        assert self.domain is not None
        first = len(self._hpopt_trials._dynamic_trials)
        done = []
        for offset, (point, loss) in enumerate(self._history):
            doc = generate_trial(first + offset, point)
            doc["state"] = JOB_STATE_DONE
            doc["result"] = {"loss": loss, "status": "ok"}
            done.append(doc)
            if self._rungs:
                self._scores[first + offset] = [(self._rungs[-1], loss)]
        self._hpopt_trials.insert_trial_docs(done)
        # A starting point sets only the labels of its own branch; TPE expects every label in
        # every trial's record, empty where the branch was not taken.
        for doc in self._hpopt_trials._dynamic_trials:
            for label in self.domain.params:
                doc["misc"]["idxs"].setdefault(label, [])
                doc["misc"]["vals"].setdefault(label, [])
        self._hpopt_trials.refresh()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        view = self._rung_view() if self._points_to_evaluate == 0 else None
        if view is None:
            config = super().suggest(trial_id)
        else:
            algo = self.algo
            self.algo = partial(_on, view, algo)
            try:
                config = super().suggest(trial_id)
            finally:
                self.algo = algo
        return None if config is None else flatten(config)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        super().on_trial_result(trial_id, result)
        self._record(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result and not error:
            self._record(trial_id, result)
        super().on_trial_complete(trial_id, result, error)

    def rung_scores(self, rung: float) -> dict[int, float]:
        """Every trial's loss at ``rung`` (its best epoch up to it), by HyperOpt trial id, for
        the trials that trained that far."""
        scores = {}
        for tid, curve in self._scores.items():
            if curve[-1][0] >= rung:
                scores[tid] = min(loss for epoch, loss in curve if epoch <= rung)
        return scores

    def _record(self, trial_id: str, result: dict[str, Any]) -> None:
        live = self._live_trial_mapping.get(trial_id)
        value, epoch = result.get(str(self._metric)), result.get(EPOCH)
        if not self._rungs or live is None or value is None or epoch is None:
            return
        curve = self._scores.setdefault(live[0], [])
        loss = self.metric_op * float(value)
        if curve and curve[-1][0] >= epoch:
            return  # a result seen again (the trial's last, at its completion)
        curve.append((float(epoch), min(loss, curve[-1][1]) if curve else loss))

    def _rung_view(self) -> Any:
        """HyperOpt's trials as seen at the highest rung ``min_points`` trials have reached,
        each with its loss there; ``None`` while the search is starting up or no rung has
        enough."""
        from hyperopt import JOB_STATE_DONE, STATUS_OK, Trials

        self.modelled_rung = None
        trials = self._hpopt_trials
        if not self._rungs or len(trials.trials) < self._min_points:
            return None
        for rung in reversed(self._rungs):
            scores = self.rung_scores(rung)
            if len(scores) >= self._min_points:
                break
        else:
            return None
        self.modelled_rung = rung
        docs = []
        for doc in trials.trials:
            if doc["tid"] in scores:
                seen = copy.deepcopy(doc)
                seen["state"] = JOB_STATE_DONE
                seen["result"] = {"loss": scores[doc["tid"]], "status": STATUS_OK}
                docs.append(seen)
        view = Trials()
        view.insert_trial_docs(docs)
        view.refresh()
        return view


def _on(view: Any, algo: Any, new_ids: Any, domain: Any, trials: Any, seed: int) -> Any:
    """``algo`` proposing from ``view`` instead of the searcher's own trials."""
    return algo(new_ids, domain, view, seed)
