"""Strategies driven with fake results (no Ray cluster): start point first, flat configs inside
the space, reproducible, concurrency-limited, and TPE model-based after its start-up trials."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.search import PastTrial, hyperopt_searcher, initial_points
from raytune_hp.spaces import contains, sample, start_point, to_hyperopt_point

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def _config(*overrides: str) -> ExperimentConfig:
    return load_config(QUICKSTART, list(overrides))


def build_searcher(config: ExperimentConfig, max_concurrent: int) -> Any:
    space = config.search_space()
    strategy, budget = config.search.strategy, config.search.num_samples
    return hyperopt_searcher(config, space, max_concurrent, strategy, budget)


def _drive(
    config: ExperimentConfig, n: int, objective: Callable[[dict[str, Any]], float]
) -> list[dict[str, Any]]:
    """Runs ``n`` trials one at a time, reporting ``objective(config)`` as val_acc."""
    searcher = build_searcher(config, max_concurrent=1)
    suggested = []
    for i in range(n):
        trial_id = f"t{i}"
        point = searcher.suggest(trial_id)
        assert point is not None
        suggested.append(point)
        searcher.on_trial_complete(trial_id, {"val_acc": objective(point)})
    return suggested


def _adam_is_best(point: dict[str, Any]) -> float:
    return 0.99 if point["optimizer"] == "adam" else 0.2


@pytest.mark.parametrize("strategy", ["bayes", "random"])
def test_first_trial_is_the_tables_starting_point(strategy: str) -> None:
    config = _config(f"search.strategy={strategy}")
    first = _drive(config, 1, _adam_is_best)[0]
    assert first == start_point(config.search_space())
    assert first["optimizer"] == "adam" and first["batch_size"] == 128
    # bayes starts mid-range under the tables' prior (its mode), random at the range's low end.
    assert first["lr"] == pytest.approx(10**-2.5 if strategy == "bayes" else 1e-3)


@pytest.mark.parametrize("strategy", ["bayes", "random"])
def test_suggestions_are_flat_complete_and_inside_the_space(strategy: str) -> None:
    config = _config(f"search.strategy={strategy}")
    space = config.search_space()
    for point in _drive(config, 12, _adam_is_best):
        assert set(point) == {dim.name for dim in space.dims}
        assert not any(isinstance(v, dict) for v in point.values())
        assert contains(space, point), point


def test_same_seed_same_suggestions_other_seed_other_suggestions() -> None:
    first = _drive(_config("seed=5"), 10, _adam_is_best)
    again = _drive(_config("seed=5"), 10, _adam_is_best)
    other = _drive(_config("seed=6"), 10, _adam_is_best)
    assert first == again
    assert first[1:] != other[1:]


def test_concurrency_is_limited_so_tpe_sees_results() -> None:
    searcher = build_searcher(_config(), max_concurrent=2)
    assert searcher.suggest("a") is not None
    assert searcher.suggest("b") is not None
    assert searcher.suggest("c") is None
    searcher.on_trial_complete("a", {"val_acc": 0.5})
    assert searcher.suggest("c") is not None


@pytest.mark.parametrize(("budget", "expected"), [(4, 3), (20, 3), (30, 5), (60, 10), (200, 20)])
def test_start_up_trials_follow_the_budget_not_hyperopts_default(
    budget: int, expected: int
) -> None:
    assert initial_points(budget) == expected


def test_bayes_learns_from_results_and_random_does_not() -> None:
    # One optimizer of eight is much better. After its start-up trials TPE proposes it several
    # times as often as the 1/8 that random search does (both are seeded: no flakiness).
    n, skip = 40, 8
    bayes = _drive(_config("search.strategy=bayes", "search.num_samples=40"), n, _adam_is_best)
    random = _drive(_config("search.strategy=random", "search.num_samples=40"), n, _adam_is_best)
    share = {
        name: sum(p["optimizer"] == "adam" for p in points[skip:]) / (n - skip)
        for name, points in (("bayes", bayes), ("random", random))
    }
    assert share["bayes"] > 0.25, share
    assert share["bayes"] > 2 * share["random"], share


def test_building_nothing_imports_neither_ray_nor_torch() -> None:
    # The strategies' factories import their Ray searchers only when a search is built, so that
    # reading and checking a config stays fast and works where Ray would not start.
    code = (
        "import sys\n"
        "from raytune_hp.config import load_config\n"
        "import raytune_hp.search, raytune_hp.early_stopping\n"
        f"load_config({str(QUICKSTART)!r})\n"
        "print(sorted(m for m in ('ray', 'torch', 'hyperopt') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tpe_starts_from_the_best_past_trial_then_the_tables_start_and_learns_them() -> None:
    from hyperopt.base import JOB_STATE_DONE

    config = load_config(QUICKSTART)
    space = config.search_space()
    c1, c2, c3 = sample(space, 3, 11)
    assert len({str(c) for c in (c1, c2, c3, start_point(space))}) == 4
    past = [PastTrial(c1, 0.5), PastTrial(c2, 0.9), PastTrial(c3, 0.7)]
    searcher = hyperopt_searcher(config, space, 1, "bayes", 10, past_trials=past)
    history = searcher.searcher._hpopt_trials
    done = [trial for trial in history.trials if trial["state"] == JOB_STATE_DONE]
    assert [trial["result"]["loss"] for trial in done] == [-0.5, -0.9, -0.7]
    for trial, earlier in zip(done, past, strict=True):
        vals = {label: v[0] for label, v in trial["misc"]["vals"].items() if v}
        assert vals == to_hyperopt_point(space, earlier.config)
        assert vals[f"lr_{earlier.config['optimizer']}"] == earlier.config["lr"]
    assert searcher.suggest("t0") == c2
    assert searcher.suggest("t1") is None  # one at a time
    searcher.on_trial_complete("t0", {"val_acc": 0.1})
    assert searcher.suggest("t1") == start_point(space)


def test_the_config_says_whether_tpe_learns_at_ashas_rungs_and_how_much_the_prior_counts() -> None:
    at_rungs = build_searcher(
        _config("search.fidelity=rungs", "search.prior_weight=0.5"), max_concurrent=1
    )
    searcher = at_rungs.searcher  # behind the concurrency limiter
    assert searcher._rungs == (2.0, 6.0, 18.0)  # the quickstart's ASHA: grace 2, factor 3
    assert searcher.algo.keywords["prior_weight"] == 0.5
    final = build_searcher(_config("search.fidelity=final"), max_concurrent=1).searcher
    assert final._rungs == ()
    random = build_searcher(_config("search.strategy=random", "search.fidelity=rungs"), 1)
    assert random.searcher._rungs == ()  # random search learns nothing, at any fidelity
