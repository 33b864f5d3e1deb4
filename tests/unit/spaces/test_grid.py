"""The grid: the lr spread over each optimizer's own range on the log scale, its size counted
right for every shipped config, and the rule for how many hyperparameters a grid may tune."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from raytune_hp import spaces
from raytune_hp.config import load_config
from raytune_hp.spaces import contains, resolve_space

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO / "configs").glob("*.yaml"))
TWO_OPTIMIZERS = {
    "optimizer": ["adam", "sgd"],
    "batch_size": 64,
    "kernel_size": 3,
    "num_kernels": 128,
    "num_layers": 1,
    "weight_decay": 0.0,
}


def test_the_grid_spreads_the_lr_over_each_optimizers_own_range_on_the_log_scale() -> None:
    space = resolve_space("cnn", TWO_OPTIMIZERS)
    assert set(space.tuned) == {"optimizer", "lr", "dropout"}
    points = spaces.grid(space, 3)
    assert len(points) == 2 * 3 * 3 == spaces.grid_size(space, 3)
    assert len({tuple(sorted(point.items())) for point in points}) == len(points)
    for point in points:
        assert not any(isinstance(value, (dict, list)) for value in point.values())
        assert contains(space, point), point
    for name in ("adam", "sgd"):
        row = spaces.OPTIMIZERS[name]
        lrs = sorted({point["lr"] for point in points if point["optimizer"] == name})
        middle = math.sqrt(row.low * row.high)
        assert lrs == pytest.approx([row.low, middle, row.high], rel=2e-3), name
    assert sorted({point["dropout"] for point in points}) == [0.0, 0.25, 0.5]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_grid_size_counts_the_grid(path: Path) -> None:
    config = load_config(path)
    space, points = config.search_space(), config.search.grid_points
    size = spaces.grid_size(space, points)
    if size > 20_000:
        pytest.skip(f"a grid of {size} points is too big to build here")
    grid = spaces.grid(space, points)
    assert len(grid) == size
    assert len({tuple(sorted(point.items(), key=str)) for point in grid}) == size
    assert all(contains(space, point) for point in grid)


def test_only_a_grid_over_more_than_four_hyperparameters_is_oversized() -> None:
    four = resolve_space("cnn", {k: v for k, v in TWO_OPTIMIZERS.items() if k != "weight_decay"})
    assert len(four.tuned) == spaces.MAX_GRID_DIMENSIONS == 4
    assert spaces.oversized_grid(four, 3) is None
    five = resolve_space(
        "cnn", {k: v for k, v in TWO_OPTIMIZERS.items() if k not in ("weight_decay", "num_layers")}
    )
    assert len(five.tuned) == 5
    assert spaces.oversized_grid(five, 3) == spaces.grid_size(five, 3) == 2 * 3 * 3 * 3 * 3


def test_an_integer_on_a_log_scale_gets_log_spaced_integers_without_repeats() -> None:
    space = resolve_space(
        "mlp",
        {
            "width": {"kind": "int", "low": 8, "high": 512, "log": True},
            "trees": {"kind": "int", "low": 1, "high": 6, "log": True},
        },
    )
    assert spaces.grid_values(space["width"], 5) == [8, 23, 64, 181, 512]  # ×2.83 each step
    assert spaces.grid_values(space["width"], 2) == [8, 512]
    # Ten log-spaced points round onto the six integers there are, each once.
    assert spaces.grid_values(space["trees"], 10) == [1, 2, 3, 4, 5, 6]


def test_a_batch_size_whose_kind_the_config_changed_is_gridded_in_its_new_kind() -> None:
    fixed = {k: v for k, v in TWO_OPTIMIZERS.items() if k != "batch_size"}
    ints = resolve_space("cnn", {**fixed, "batch_size": {"kind": "int", "low": 16, "high": 200}})
    assert spaces.grid_values(ints["batch_size"], 5) == [16, 62, 108, 154, 200]
    choices = {"kind": "choice", "choices": [24, 48, 96]}
    space = resolve_space("cnn", {**fixed, "batch_size": choices})
    points = spaces.grid(space, 3)
    assert len(points) == 2 * 3 * 3 * 3 == spaces.grid_size(space, 3)  # optimizer, lr, dropout
    assert sorted({point["batch_size"] for point in points}) == [24, 48, 96]
    assert all(contains(space, point) for point in points)
