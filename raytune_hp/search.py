"""Strategies: which configuration to try next (Ray Tune searchers over the resolved space).

``bayes`` and ``random`` run through Ray's ``HyperOptSearch`` on the native conditional space,
with TPE and with HyperOpt's random sampler (Ray's own generator cannot take a starting point in
a conditional space: its ``points_to_evaluate`` merge fails on nested choices). Both try the
tables' recommended starting point first, both are seeded from the config, and concurrency is
always explicit so TPE stays model-based (ray-project/ray #14770). ``bayes`` can be warm-started:
earlier experiments' trials join TPE's history and their best configuration goes first. ``grid``
hands out :func:`raytune_hp.spaces.grid`'s points. ``coarse-to-fine`` is two phases (random,
then TPE); :func:`narrowed_space` draws the second phase's space around the first's best.

Example:
    >>> from raytune_hp.config import load_config
    >>> config = load_config("configs/quickstart.yaml")
    >>> plan = build_search(config, config.search_space(), max_concurrent=2)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.spaces import (
    LR,
    OPTIMIZER,
    OUTSIDE,
    SearchSpace,
    flatten,
    grid,
    start_point,
    to_hyperopt,
    to_hyperopt_point,
)


@dataclass(frozen=True)
class Prior:
    """A finished trial of an earlier experiment: its flat configuration and its best metric."""

    config: dict[str, Any]
    metric: float


@dataclass(frozen=True)
class SearchPlan:
    """What the Tuner needs from a strategy: the searcher, its param space, how many trials."""

    searcher: Any
    num_samples: int
    param_space: dict[str, Any] = field(default_factory=dict)


def initial_points(num_samples: int) -> int:
    """Random start-up trials before TPE models the results: a sixth of the budget, 3 to 20.

    HyperOpt's default of 20 would make a 20-trial "Bayesian" search pure random search. The
    search-quality benchmark measured a sixth ahead of a quarter (5 rather than 7 of 30 trials:
    mean regret 0.017 against 0.034 over 20 seeds on its 7-hyperparameter space, 0.877 against
    0.856 mean best accuracy over 7 further seeds on its 4-hyperparameter space).
    """
    return min(20, max(3, num_samples // 6))


def build_search(
    config: ExperimentConfig,
    space: SearchSpace,
    max_concurrent: int,
    strategy: str | None = None,
    num_samples: int | None = None,
    priors: Sequence[Prior] = (),
    start_points: Sequence[dict[str, Any]] | None = None,
) -> SearchPlan:
    """The searcher for ``strategy`` (default: the config's) over ``space``, limited to
    ``max_concurrent`` open trials. ``priors`` warm-start TPE (``bayes`` only); ``start_points``
    replace the default first trials (the priors' best, then the tables' start)."""
    strategy = strategy or config.search.strategy
    num_samples = num_samples or config.search.num_samples
    if strategy == "grid":
        from ray.tune.search import ConcurrencyLimiter

        points = grid(space, config.search.grid_points)
        searcher = _grid_searcher_class()(points, config.train.metric, config.train.mode)
        return SearchPlan(ConcurrencyLimiter(searcher, max_concurrent), len(points))
    return SearchPlan(
        hyperopt_searcher(
            config, space, max_concurrent, strategy, num_samples, priors, start_points
        ),
        num_samples,
    )


def hyperopt_searcher(
    config: ExperimentConfig,
    space: SearchSpace,
    max_concurrent: int,
    strategy: str,
    num_samples: int,
    priors: Sequence[Prior] = (),
    start_points: Sequence[dict[str, Any]] | None = None,
) -> Any:
    """``HyperOptSearch`` (TPE for ``bayes``, random sampling for ``random``) behind a
    ``ConcurrencyLimiter``; unless ``start_points`` says otherwise, the earlier experiments' best
    first, then the tables' start."""
    import hyperopt
    from ray.tune.search import ConcurrencyLimiter

    sign = -1.0 if config.train.mode == "max" else 1.0
    if start_points is not None:
        points = list(start_points)
    else:
        points = [start_point(space)]
        if priors:
            best = min(priors, key=lambda prior: sign * prior.metric)
            points = [best.config] + [p for p in points if p != best.config]
    searcher = _tables_hyperopt_search_class()(
        space=to_hyperopt(space),
        metric=config.train.metric,
        mode=config.train.mode,
        points_to_evaluate=[to_hyperopt_point(space, point) for point in points],
        n_initial_points=config.search.initial_points or initial_points(num_samples),
        random_state_seed=config.seed,
        history=[(to_hyperopt_point(space, p.config), sign * p.metric) for p in priors],
    )
    if strategy == "random":
        searcher.algo = hyperopt.rand.suggest
    return ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)


def narrowed_space(
    space: SearchSpace, best: Sequence[Mapping[str, Any]], points: int = 5
) -> dict[str, Any]:
    """``space`` overrides for a fine phase around the ``best`` configurations.

    Each tuned range shrinks to the span of the best trials' values, widened by one step of a
    ``points``-point grid on each side (on the log scale where the range is log) and clipped to
    the coarse range; choices shrink to those among the best; the learning rate is narrowed per
    optimizer that remains. The result lies inside ``space`` and contains every one of ``best``.
    """
    overrides: dict[str, Any] = {}
    for dim in space.dims:
        values = [config[dim.name] for config in best if dim.name in config]
        if dim.fixed or not values:
            continue
        if dim.name == LR:
            ranges = {}
            chosen = {config[OPTIMIZER] for config in best}
            for optimizer in [name for name, _, _ in dim.lr_ranges if name in chosen]:
                mine = [c[LR] for c in best if c[OPTIMIZER] == optimizer]
                low, high = _widened(mine, *dim.range_for(optimizer), log=True, points=points)
                ranges[optimizer] = {"low": low, "high": high}
            overrides[LR] = ranges
        elif dim.kind == "choice":
            kept = [choice for choice in dim.choices if choice in values]
            overrides[dim.name] = kept if len(kept) > 1 else {"value": kept[0]}
        else:
            log = dim.kind in ("log", "pow2")
            low, high = _widened(values, *dim.bounds, log=log, points=points)
            if dim.kind == "pow2":
                low, high = 2 ** math.floor(math.log2(low)), 2 ** math.ceil(math.log2(high))
            elif dim.kind == "int":
                low, high = math.floor(low), math.ceil(high)
            overrides[dim.name] = {"low": low, "high": high}
        if dim.outside and isinstance(overrides.get(dim.name), dict):
            overrides[dim.name] = {**overrides[dim.name], OUTSIDE: True}
    return overrides


def _widened(
    values: Sequence[float], low: float, high: float, log: bool, points: int
) -> tuple[float, float]:
    to = (lambda v: math.log(v)) if log else (lambda v: v)
    back = (lambda v: math.exp(v)) if log else (lambda v: v)
    step = (to(high) - to(low)) / (points - 1)
    new_low = max(to(low), to(min(values)) - step)
    new_high = min(to(high), to(max(values)) + step)
    # exp(log(x)) can miss x by an ulp: clip back into the coarse range.
    return max(low, min(back(new_low), min(values))), min(high, max(back(new_high), max(values)))


def _grid_searcher_class() -> Any:
    """A Ray ``Searcher`` that hands out a fixed list of flat configurations, then finishes.

    Ray's own grid generator would nest the conditional lr under the optimizer in every trial's
    config; this keeps configs flat like every other strategy's.
    """
    from ray.tune.search import Searcher

    class GridSearcher(Searcher):  # type: ignore[misc]
        def __init__(self, points: list[dict[str, Any]], metric: str, mode: str) -> None:
            super().__init__(metric=metric, mode=mode)
            self._queue = list(points)

        def suggest(self, trial_id: str) -> Any:
            return self._queue.pop(0) if self._queue else Searcher.FINISHED

        def on_trial_complete(self, trial_id: str, result: Any = None, error: bool = False) -> None:
            return None

        def get_state(self) -> dict[str, Any]:
            return {"queue": self._queue}

        def set_state(self, state: dict[str, Any]) -> None:
            self._queue = state["queue"]

        def save(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "wb") as file:
                pickle.dump(self.get_state(), file)

        def restore(self, checkpoint_path: str) -> None:
            with open(checkpoint_path, "rb") as file:
                self.set_state(pickle.load(file))

    return GridSearcher


def _tables_hyperopt_search_class() -> Any:
    """``HyperOptSearch`` that takes starting points already in HyperOpt's label/index form
    (:func:`raytune_hp.spaces.to_hyperopt_point`) and hands trials flat configs."""
    from ray.tune.search.hyperopt import HyperOptSearch

    class TablesHyperOptSearch(HyperOptSearch):  # type: ignore[misc]
        def __init__(self, *, history: Sequence[tuple[dict[str, Any], float]] = (), **kwargs: Any):
            # Set before HyperOptSearch.__init__, which builds the trials history.
            self._history = list(history)
            super().__init__(**kwargs)

        def _convert_categories_to_indices(self, config: dict[str, Any]) -> None:
            # Points are converted by spaces.to_hyperopt_point; Ray's own conversion cannot
            # follow nested choices and fails on them.
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
