"""The bayes and random strategies' Ray Tune searcher: HyperOpt on the tables' conditional space.

Ray's ``HyperOptSearch`` converts starting points itself and cannot follow nested choices (the lr
under each optimizer): it fails on them. This subclass takes starting points already in
HyperOpt's own label/index form (:func:`raytune_hp.spaces.to_hyperopt_point`), can put finished
trials of earlier experiments into TPE's history before the first suggestion (a warm start), and
hands every trial a flat configuration.

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

from collections.abc import Sequence
from typing import Any, Literal

from ray.tune.search.hyperopt import HyperOptSearch

from raytune_hp.spaces import flatten


class TablesHyperOptSearch(HyperOptSearch):  # type: ignore[misc]
    """``HyperOptSearch`` over a native conditional space, with a history of finished trials.

    Args:
        history: ``(point, loss)`` pairs, ``point`` in HyperOpt's label/index form and ``loss``
            what TPE minimises (the metric, negated when higher is better).
        sampler: ``tpe`` (model-based after ``n_initial_points``) or ``random`` (HyperOpt's
            random sampler throughout).
        **kwargs: ``HyperOptSearch``'s own arguments; ``points_to_evaluate`` in HyperOpt's form.
    """

    def __init__(
        self,
        *,
        history: Sequence[tuple[dict[str, Any], float]] = (),
        sampler: Literal["tpe", "random"] = "tpe",
        **kwargs: Any,
    ) -> None:
        # Set before HyperOptSearch.__init__, which builds the trials history.
        self._history = list(history)
        super().__init__(**kwargs)
        if sampler == "random":
            import hyperopt

            self.algo = hyperopt.rand.suggest  # type: ignore[has-type]  # untyped in Ray

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
        self._hpopt_trials.insert_trial_docs(done)
        # A starting point sets only the labels of its own branch; TPE expects every label in
        # every trial's record, empty where the branch was not taken.
        for doc in self._hpopt_trials._dynamic_trials:
            for label in self.domain.params:
                doc["misc"]["idxs"].setdefault(label, [])
                doc["misc"]["vals"].setdefault(label, [])
        self._hpopt_trials.refresh()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        return None if config is None else flatten(config)
