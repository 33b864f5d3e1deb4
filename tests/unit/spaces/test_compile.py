"""The space in HyperOpt's and Ray Tune's terms: what either samples stays inside the tables,
covers them, and is reproducible; HyperOpt's own points use its labels and indices; integers on a
log scale are drawn log-uniformly, and a row whose kind the config changed in its new kind."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from raytune_hp.spaces import (
    OPTIMIZERS,
    SearchSpace,
    contains,
    resolve_space,
    sample,
    start_point,
    to_hyperopt_point,
)

DRAWS = 300  # as many as the draws fixture takes (conftest.py)
InsideTables = Callable[[Mapping[str, Any]], None]
TuneSamples = Callable[..., list[dict[str, Any]]]


def test_samples_stay_inside_the_tables(
    draws: list[dict[str, Any]], assert_inside_tables: InsideTables
) -> None:
    assert len(draws) == DRAWS
    for config in draws:
        assert_inside_tables(config)


def test_samples_cover_every_optimizer_and_choice(draws: list[dict[str, Any]]) -> None:
    assert {c["optimizer"] for c in draws} == set(OPTIMIZERS)
    assert {c["kernel_size"] for c in draws} == {1, 3, 5, 7}
    assert {c["num_layers"] for c in draws} == {1, 2, 3, 4}
    assert len({c["batch_size"] for c in draws}) >= 8  # most of the 11 powers of two


def test_lr_is_log_uniform_within_each_optimizer_range(draws: list[dict[str, Any]]) -> None:
    # Log-uniform puts half the draws below the geometric midpoint; uniform would put ~1/4 there
    # for a decade-wide range, ~1/10 for AdamW's two decades.
    below = [
        c["lr"] < math.sqrt(OPTIMIZERS[c["optimizer"]].low * OPTIMIZERS[c["optimizer"]].high)
        for c in draws
    ]
    assert 0.38 < sum(below) / len(below) < 0.62


def test_samples_are_plain_python_values(draws: list[dict[str, Any]]) -> None:
    for config in draws[:20]:
        assert {type(v) for v in config.values()} <= {str, int, float}, config


def test_sample_is_reproducible_from_the_seed(table: SearchSpace) -> None:
    assert sample(table, 5, seed=1) == sample(table, 5, seed=1)
    assert sample(table, 5, seed=1) != sample(table, 5, seed=2)


def test_to_hyperopt_point_uses_labels_and_indices(table: SearchSpace) -> None:
    point = to_hyperopt_point(table, start_point(table))
    assert point["optimizer"] == list(OPTIMIZERS).index("adam")
    assert point["lr_adam"] == 1e-3
    assert point["log2_batch_size"] == 7  # 2**7 == 128
    assert point["kernel_size"] == 1  # 3 is the second of (1, 3, 5, 7)
    assert "lr" not in point and "batch_size" not in point
    assert not any(key.startswith("lr_") and key != "lr_adam" for key in point)


def test_to_hyperopt_point_leaves_out_fixed_values() -> None:
    space = resolve_space("cnn", {"optimizer": "adam", "lr": 2e-3, "dropout": 0.1})
    point = to_hyperopt_point(space, start_point(space))
    assert not {"optimizer", "dropout"} & set(point)
    assert not any(key.startswith("lr") for key in point)


# --- integers on a log scale, and a table row whose kind the config changed -----------------------

WIDTH = {"width": {"kind": "int", "low": 8, "high": 512, "log": True}}
LOG_DRAWS = 2000


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_an_integer_on_a_log_scale_is_drawn_log_uniformly(
    form: str, tune_samples: TuneSamples
) -> None:
    space = resolve_space("mlp", WIDTH)
    draws = sample(space, LOG_DRAWS, 0) if form == "hyperopt" else tune_samples(space, LOG_DRAWS)
    widths = [point["width"] for point in draws]
    assert all(type(w) is int and 8 <= w <= 512 for w in widths)
    assert min(widths) == 8 and max(widths) > 400
    # Log-uniform: half below the geometric mean, 64 (uniform would put 11% there) and 84% below
    # the arithmetic mean, 260 (uniform: half).
    assert 0.46 < sum(w < 64 for w in widths) / len(widths) < 0.54
    assert 0.80 < sum(w < 260 for w in widths) / len(widths) < 0.88
    assert all(contains(space, point) for point in draws)


def test_to_hyperopt_point_gives_an_integer_on_a_log_scale_as_itself() -> None:
    space = resolve_space("mlp", {"width": {**WIDTH["width"], "start": 64}})
    assert to_hyperopt_point(space, start_point(space))["width"] == 64


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_batch_size_made_integer_by_the_config_is_drawn_from_every_integer(
    form: str, tune_samples: TuneSamples
) -> None:
    space = resolve_space("cnn", {"batch_size": {"kind": "int", "low": 16, "high": 200}})
    draws = sample(space, DRAWS, 0) if form == "hyperopt" else tune_samples(space, DRAWS)
    sizes = [point["batch_size"] for point in draws]
    assert all(type(size) is int and 16 <= size <= 200 for size in sizes)
    assert len(set(sizes)) > 100  # not only the four powers of two in the range
    assert all(contains(space, point) for point in draws)


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_batch_size_made_a_choice_by_the_config_is_drawn_from_its_choices(
    form: str, tune_samples: TuneSamples
) -> None:
    space = resolve_space("cnn", {"batch_size": {"kind": "choice", "choices": [24, 48, 96]}})
    draws = sample(space, DRAWS, 0) if form == "hyperopt" else tune_samples(space, DRAWS)
    assert {point["batch_size"] for point in draws} == {24, 48, 96}
    assert all(contains(space, point) for point in draws)
