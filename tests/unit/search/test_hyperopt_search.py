"""The HyperOpt searcher on the tables' conditional space, driven with fake results: starting
points in HyperOpt's own form go first and come back flat; past trials enter TPE's history; a
saved searcher restores to the same next proposals; and the private parts of Ray's
``HyperOptSearch`` it builds on are still there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hyperopt.base import JOB_STATE_DONE
from ray.tune.search.hyperopt import HyperOptSearch

from raytune_hp.config import load_config
from raytune_hp.search.hyperopt_search import TablesHyperOptSearch
from raytune_hp.spaces import (
    SearchSpace,
    contains,
    sample,
    start_point,
    to_hyperopt,
    to_hyperopt_point,
)

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return load_config(QUICKSTART).search_space()


def _searcher(space: SearchSpace, **kwargs: Any) -> TablesHyperOptSearch:
    options: dict[str, Any] = {
        "space": to_hyperopt(space),
        "metric": "val_acc",
        "mode": "max",
        "points_to_evaluate": [to_hyperopt_point(space, start_point(space))],
        "n_initial_points": 3,
        "random_state_seed": 7,
    }
    return TablesHyperOptSearch(**(options | kwargs))


def _drive(searcher: TablesHyperOptSearch, n: int, first: int = 0) -> list[dict[str, Any]]:
    suggested = []
    for i in range(first, first + n):
        point = searcher.suggest(f"t{i}")
        assert point is not None
        suggested.append(point)
        searcher.on_trial_complete(f"t{i}", {"val_acc": 0.5 + 0.01 * (i % 7)})
    return suggested


def test_the_starting_point_goes_first_and_every_suggestion_is_flat(space: SearchSpace) -> None:
    points = _drive(_searcher(space), 8)
    assert points[0] == start_point(space)
    for point in points:
        assert all(not isinstance(value, dict) for value in point.values())
        assert contains(space, point)


def test_past_trials_enter_the_history_as_finished_with_their_loss(space: SearchSpace) -> None:
    configs = sample(space, 2, 3)
    history = [(to_hyperopt_point(space, c), -m) for c, m in zip(configs, (0.6, 0.8), strict=True)]
    searcher = _searcher(space, history=history)
    done = [t for t in searcher._hpopt_trials.trials if t["state"] == JOB_STATE_DONE]
    assert [t["result"]["loss"] for t in done] == [-0.6, -0.8]
    # Every label is in every record (empty where the branch was not taken): TPE needs it.
    labels = set(searcher.domain.params)
    assert all(set(t["misc"]["vals"]) == labels for t in searcher._hpopt_trials.trials)


def test_a_restored_searcher_proposes_what_the_saved_one_would(
    space: SearchSpace, tmp_path: Path
) -> None:
    searcher = _searcher(space)
    _drive(searcher, 6)
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _searcher(space)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert _drive(restored, 4, first=6) == _drive(searcher, 4, first=6)


def test_the_private_parts_of_rays_hyperopt_search_it_relies_on_still_exist(
    space: SearchSpace,
) -> None:
    # Renamed or removed in a Ray upgrade, these would make the subclass silently do nothing
    # (an override never called) or fail mid-experiment: this test names which one went.
    for name in ("_setup_hyperopt", "_convert_categories_to_indices", "suggest"):
        assert callable(getattr(HyperOptSearch, name, None)), f"HyperOptSearch.{name} is gone"
    searcher = _searcher(space)
    trials = searcher._hpopt_trials
    assert isinstance(trials._dynamic_trials, list), "HyperOptSearch._hpopt_trials changed"
    for name in ("insert_trial_docs", "refresh"):
        assert callable(getattr(trials, name, None)), f"hyperopt Trials.{name} is gone"
    assert searcher.domain is not None and searcher.domain.params


# --- learning at ASHA's rungs -------------------------------------------------------------------


def _train(searcher: TablesHyperOptSearch, trial_id: str, accuracies: list[float]) -> None:
    """Reports one result per epoch, as Ray does, then the trial's completion (a trial ASHA
    stopped too: Ray completes it with its last result)."""
    for epoch, acc in enumerate(accuracies, start=1):
        searcher.on_trial_result(trial_id, {"val_acc": acc, "epoch": epoch})
    searcher.on_trial_complete(trial_id, {"val_acc": accuracies[-1], "epoch": len(accuracies)})


def test_a_pruned_trial_counts_at_the_rung_it_reached_with_its_best_epoch(
    space: SearchSpace,
) -> None:
    searcher = _searcher(space, rungs=(2.0, 6.0), min_points=2)
    for trial_id in ("fast", "slow", "steady"):
        assert searcher.suggest(trial_id) is not None
    _train(searcher, "fast", [0.7, 0.8])  # ASHA stopped it at epoch 2
    _train(searcher, "slow", [0.2, 0.3, 0.5, 0.7, 0.9, 0.85])  # its best epoch, 0.9, counts
    _train(searcher, "steady", [0.5, 0.6, 0.6, 0.6, 0.6, 0.6])
    at_2, at_6 = searcher.rung_scores(2.0), searcher.rung_scores(6.0)
    assert sorted(at_2.values()) == [-0.8, -0.6, -0.3]
    assert sorted(at_6.values()) == [-0.9, -0.6]  # the pruned trial is not ranked at epoch 6
    # Two trials reached epoch 6: TPE models the next proposal on epoch 6's scores.
    searcher.suggest("next")
    assert searcher.modelled_rung == 6.0


def test_tpe_models_the_highest_rung_enough_trials_reached(space: SearchSpace) -> None:
    searcher = _searcher(space, rungs=(2.0, 6.0, 18.0), min_points=4)
    for i in range(9):
        assert searcher.suggest(f"t{i}") is not None
        # Every trial reaches epoch 2, every third epoch 6, none epoch 18.
        _train(searcher, f"t{i}", [0.5] * (6 if i % 3 == 0 else 2))
    searcher.suggest("t9")
    assert searcher.modelled_rung == 2.0  # epoch 6 has 3 trials, fewer than 4
    _train(searcher, "t9", [0.5] * 6)
    searcher.suggest("t10")
    assert searcher.modelled_rung == 6.0


def test_without_rungs_tpe_sees_each_trials_last_result_as_ray_hands_it(
    space: SearchSpace,
) -> None:
    searcher = _searcher(space)
    for i in range(5):
        searcher.suggest(f"t{i}")
        _train(searcher, f"t{i}", [0.9, 0.4])
    searcher.suggest("t5")
    assert searcher.modelled_rung is None
    done = [t for t in searcher._hpopt_trials.trials if t["state"] == JOB_STATE_DONE]
    assert {t["result"]["loss"] for t in done} == {-0.4}


def test_rung_scores_survive_a_save_and_restore(space: SearchSpace, tmp_path: Path) -> None:
    searcher = _searcher(space, rungs=(2.0, 6.0), min_points=2)
    for i in range(4):
        searcher.suggest(f"t{i}")
        _train(searcher, f"t{i}", [0.1 * (i + 1)] * 6)
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _searcher(space, rungs=(2.0, 6.0), min_points=2)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.rung_scores(6.0) == searcher.rung_scores(6.0)
    assert restored.suggest("t4") == searcher.suggest("t4")
