"""Strategies: which configuration to try next (Ray Tune searchers over the resolved space).

Both strategies run through Ray's ``HyperOptSearch`` on the native conditional space: ``bayes``
with TPE, ``random`` with HyperOpt's random sampler (Ray's own generator cannot take a starting
point in a conditional space: its ``points_to_evaluate`` merge fails on nested choices). Both try
the tables' recommended starting point first, both are seeded from the config, and concurrency is
always explicit so TPE stays model-based (ray-project/ray #14770).

Example:
    >>> from raytune_hp.config import load_config
    >>> config = load_config("configs/quickstart.yaml")
    >>> searcher = build_searcher(config, max_concurrent=2)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.spaces import flatten, start_point, to_hyperopt, to_hyperopt_point

if TYPE_CHECKING:
    from ray.tune.search import Searcher

STRATEGIES = ("bayes", "random")


def initial_points(num_samples: int) -> int:
    """Random start-up trials before TPE models the results: a quarter of the budget, 3 to 20.

    HyperOpt's default of 20 would make a 20-trial "Bayesian" search pure random search.
    """
    return min(20, max(3, num_samples // 4))


def build_searcher(config: ExperimentConfig, max_concurrent: int) -> Searcher:
    """The searcher for ``config.search.strategy``, limited to ``max_concurrent`` open trials."""
    from ray.tune.search import ConcurrencyLimiter

    space = config.search_space()
    searcher = _tables_hyperopt_search_class()(
        space=to_hyperopt(space),
        metric=config.train.metric,
        mode=config.train.mode,
        points_to_evaluate=[to_hyperopt_point(space, start_point(space))],
        n_initial_points=config.search.initial_points or initial_points(config.search.num_samples),
        random_state_seed=config.seed,
    )
    if config.search.strategy == "random":
        import hyperopt

        searcher.algo = hyperopt.rand.suggest
    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def _tables_hyperopt_search_class() -> Any:
    """``HyperOptSearch`` that takes starting points already in HyperOpt's label/index form
    (:func:`raytune_hp.spaces.to_hyperopt_point`) and hands trials flat configs."""
    from ray.tune.search.hyperopt import HyperOptSearch

    class TablesHyperOptSearch(HyperOptSearch):  # type: ignore[misc]
        def _convert_categories_to_indices(self, config: dict[str, Any]) -> None:
            # Points are converted by spaces.to_hyperopt_point; Ray's own conversion cannot
            # follow nested choices and fails on them.
            return None

        def _setup_hyperopt(self) -> None:
            super()._setup_hyperopt()
            assert self.domain is not None
            # A starting point sets only the labels of its own branch; TPE expects every label
            # in every trial's record, empty where the branch was not taken.
            for doc in self._hpopt_trials._dynamic_trials:
                for label in self.domain.params:
                    doc["misc"]["idxs"].setdefault(label, [])
                    doc["misc"]["vals"].setdefault(label, [])
            self._hpopt_trials.refresh()

        def suggest(self, trial_id: str) -> dict[str, Any] | None:
            config = super().suggest(trial_id)
            return None if config is None else flatten(config)

    return TablesHyperOptSearch
