"""The grid searcher driven with fake trials: the grid in order, then finished; its queue
survives a save and restore, so a resumed grid continues where it stopped."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from ray.tune.search import Searcher

from raytune_hp.config import load_config
from raytune_hp.search import build_search
from raytune_hp.search.grid_searcher import GridSearcher
from raytune_hp.spaces import contains, grid

REPO = Path(__file__).resolve().parents[3]
CNN_GRID = REPO / "configs" / "cnn_grid.yaml"
POINTS = [{"lr": 0.001, "optimizer": "adam"}, {"lr": 0.01, "optimizer": "adam"}, {"lr": 0.1}]


def test_the_grid_searcher_hands_out_the_grid_then_finishes() -> None:
    config = load_config(CNN_GRID)
    space = config.search_space()
    expected = grid(space, config.search.grid_points)
    plan = build_search(config, space, 2, "grid")
    assert plan.num_samples == len(expected) == 27
    searcher, handed, live, ids = plan.searcher, [], [], itertools.count()
    while True:
        trial_id = f"t{next(ids)}"
        point = searcher.suggest(trial_id)
        if point is None:  # two open trials: one must finish first
            assert len(live) == 2
            searcher.on_trial_complete(live.pop(0), {"val_acc": 0.5})
            continue
        if point == Searcher.FINISHED:
            break
        assert len(live) < 2
        live.append(trial_id)
        handed.append(point)
    assert Searcher.FINISHED == "FINISHED"
    assert handed == expected
    assert all(contains(space, point) for point in handed)
    for trial_id in live:
        searcher.on_trial_complete(trial_id, {"val_acc": 0.5})
    assert searcher.suggest("after") == Searcher.FINISHED


def test_a_restored_grid_continues_where_the_saved_one_stopped(tmp_path: Path) -> None:
    searcher = GridSearcher(POINTS, metric="val_acc", mode="max")
    assert searcher.suggest("t0") == POINTS[0]
    searcher.on_trial_complete("t0", {"val_acc": 0.9})
    searcher.save(str(tmp_path / "grid.pkl"))
    assert searcher.suggest("t1") == POINTS[1]  # the original goes on; the file is a snapshot

    restored = GridSearcher([], metric="val_acc", mode="max")
    restored.restore(str(tmp_path / "grid.pkl"))
    assert [restored.suggest("t1"), restored.suggest("t2")] == POINTS[1:]
    assert restored.suggest("t3") == Searcher.FINISHED


def test_the_state_is_the_queue_of_points_left() -> None:
    searcher = GridSearcher(POINTS, metric="val_loss", mode="min")
    searcher.suggest("t0")
    state = searcher.get_state()
    assert state == {"queue": POINTS[1:]}
    other = GridSearcher([], metric="val_loss", mode="min")
    other.set_state(state)
    assert other.suggest("t1") == POINTS[1]
    assert (searcher.metric, searcher.mode) == ("val_loss", "min")


def test_the_searcher_api_it_overrides_is_still_rays() -> None:
    # A Ray upgrade that renames these would leave the grid searcher's methods unused.
    for name in ("suggest", "on_trial_complete", "get_state", "set_state", "save", "restore"):
        assert callable(getattr(Searcher, name)), name
    assert Searcher.FINISHED == "FINISHED"


def test_the_saved_grid_is_plain_json(tmp_path: Path) -> None:
    # Ray names the file searcher-state-*.pkl, but reading it back must run nothing.
    GridSearcher(POINTS, metric="val_acc", mode="max").save(str(tmp_path / "grid.pkl"))
    assert json.loads((tmp_path / "grid.pkl").read_text()) == {"queue": POINTS}
