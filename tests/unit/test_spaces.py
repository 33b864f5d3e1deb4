"""The recommendation tables: what is sampled (HyperOpt and Ray Tune forms) stays inside them,
overrides narrow them, and the starting point is the one practitioners start from."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from raytune_hp import spaces
from raytune_hp.errors import SearchSpaceError
from raytune_hp.spaces import (
    OPTIMIZERS,
    SearchSpace,
    contains,
    flatten,
    format_tables,
    resolve_space,
    sample,
    start_point,
    to_hyperopt_point,
    to_tune,
)

DRAWS = 300


def tune_samples(space: SearchSpace, n: int = DRAWS) -> list[dict[str, Any]]:
    """``n`` flat configurations drawn by Ray Tune's own generator from ``to_tune(space)``."""
    from ray.tune.search.variant_generator import generate_variants

    compiled = to_tune(space)
    return [
        flatten(config)
        for i in range(n)
        for _, config in generate_variants(compiled, random_state=i)
    ]


@pytest.fixture(scope="module")
def table() -> SearchSpace:
    return resolve_space("cnn")


@pytest.fixture(scope="module", params=["hyperopt", "tune"])
def draws(request: pytest.FixtureRequest, table: SearchSpace) -> list[dict[str, Any]]:
    if request.param == "hyperopt":
        return sample(table, DRAWS, seed=0)
    return tune_samples(table)


def assert_inside_tables(config: Mapping[str, Any]) -> None:
    low, high = OPTIMIZERS[config["optimizer"]].low, OPTIMIZERS[config["optimizer"]].high
    assert low <= config["lr"] <= high, config
    batch = config["batch_size"]
    assert type(batch) is int and 1 <= batch <= 1024 and batch & (batch - 1) == 0, config
    assert 0 <= config["dropout"] <= 0.5, config
    assert 0 <= config["weight_decay"] <= 1e-4, config
    assert config["kernel_size"] in {1, 3, 5, 7}, config
    assert type(config["num_kernels"]) is int and 100 <= config["num_kernels"] <= 600, config
    assert config["num_layers"] in {1, 2, 3, 4}, config


# --- the untouched tables ----------------------------------------------------------------------


def test_samples_stay_inside_the_tables(draws: list[dict[str, Any]]) -> None:
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


def test_contains_agrees_with_samples(table: SearchSpace, draws: list[dict[str, Any]]) -> None:
    for config in draws:
        assert contains(table, config)
    config = dict(draws[0])
    for key, bad in [
        ("batch_size", 100),
        ("kernel_size", 2),
        ("dropout", 0.6),
        ("num_kernels", 50),
    ]:
        assert not contains(table, {**config, key: bad}), key
    low, high = OPTIMIZERS[config["optimizer"]].low, OPTIMIZERS[config["optimizer"]].high
    assert not contains(table, {**config, "lr": low / 2})
    assert not contains(table, {**config, "lr": high * 2})


# --- overrides ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_fixed_value_is_not_tuned(form: str) -> None:
    space = resolve_space("cnn", {"dropout": 0.1, "batch_size": 64})
    assert "dropout" not in space.tuned and "batch_size" not in space.tuned
    draws = sample(space, 50, seed=0) if form == "hyperopt" else tune_samples(space, 50)
    assert {c["dropout"] for c in draws} == {0.1}
    assert {c["batch_size"] for c in draws} == {64}


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_narrowed_range_is_sampled_inside(form: str) -> None:
    space = resolve_space(
        "cnn", {"batch_size": {"low": 32, "high": 256}, "dropout": {"low": 0.1, "high": 0.2}}
    )
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    assert {c["batch_size"] for c in draws} == {32, 64, 128, 256}
    assert all(0.1 <= c["dropout"] <= 0.2 for c in draws)


def test_a_narrowed_range_equal_at_both_ends_fixes_the_value() -> None:
    assert resolve_space("cnn", {"dropout": {"low": 0.3, "high": 0.3}})["dropout"].fixed


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_restricted_optimizer_keeps_each_its_own_lr_range(form: str) -> None:
    space = resolve_space("cnn", {"optimizer": ["adam", "sgd"]})
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    assert {c["optimizer"] for c in draws} == {"adam", "sgd"}
    for config in draws:
        assert_inside_tables(config)
    # SGD's range starts where Adam's ends: the lr really follows the optimizer.
    assert min(c["lr"] for c in draws if c["optimizer"] == "sgd") >= 1e-2
    assert max(c["lr"] for c in draws if c["optimizer"] == "adam") <= 1e-2


@pytest.mark.parametrize("form", ["hyperopt", "tune"])
def test_a_narrowed_lr_intersects_each_optimizer_range(form: str) -> None:
    space = resolve_space("cnn", {"optimizer": ["adam", "sgd"], "lr": {"low": 5e-3, "high": 5e-2}})
    assert space.lr_range("adam") == (5e-3, 1e-2)
    assert space.lr_range("sgd") == (1e-2, 5e-2)
    draws = sample(space, 100, seed=0) if form == "hyperopt" else tune_samples(space, 100)
    for config in draws:
        low, high = space.lr_range(config["optimizer"])
        assert low <= config["lr"] <= high
        assert contains(space, config)


def test_a_single_optimizer_is_fixed() -> None:
    space = resolve_space("cnn", {"optimizer": "adamw"})
    assert "optimizer" not in space.tuned and "lr" in space.tuned
    draws = sample(space, 20, seed=0)
    assert {c["optimizer"] for c in draws} == {"adamw"}
    assert all(1e-4 <= c["lr"] <= 1e-2 for c in draws)


def test_an_unknown_model_lists_the_valid_ones() -> None:
    message = r"^model.name must be one of cnn, mlp, rnn, transformer; got 'vit'$"
    with pytest.raises(SearchSpaceError, match=message):
        resolve_space("vit")


# --- the starting point ------------------------------------------------------------------------


def test_start_point_is_where_practitioners_start(table: SearchSpace) -> None:
    point = start_point(table)
    assert point["optimizer"] == "adam"
    assert point["lr"] == 1e-3  # the low end of Adam's range
    assert point["batch_size"] == 128
    assert point["dropout"] == 0.5
    assert point["weight_decay"] == 0
    assert list(point) == [dim.name for dim in table.dims]
    assert contains(table, point)


def test_start_point_is_clipped_into_a_narrowed_space() -> None:
    space = resolve_space(
        "cnn",
        {
            "batch_size": {"low": 256, "high": 1024},
            "dropout": {"low": 0.0, "high": 0.2},
            "optimizer": ["sgd", "momentum"],
        },
    )
    point = start_point(space)
    assert point["batch_size"] == 256
    assert point["dropout"] == 0.2
    assert point["optimizer"] == "sgd"  # Adam is out: the first allowed one
    assert point["lr"] == 1e-2  # the low end of SGD's range
    assert contains(space, point)


def test_start_point_keeps_fixed_values() -> None:
    space = resolve_space("cnn", {"optimizer": ["adam", "nadam"], "lr": 5e-3, "batch_size": 32})
    point = start_point(space)
    assert point["lr"] == 5e-3 and point["batch_size"] == 32


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


# --- flatten and the printed tables ------------------------------------------------------------


def test_flatten_lifts_the_optimizer_branch_and_unwraps_numpy() -> None:
    nested = {
        "optimizer": {"optimizer": "adam", "lr": np.float64(3e-3)},
        "batch_size": np.int64(64),
        "dropout": 0.1,
    }
    flat = flatten(nested)
    assert flat == {"optimizer": "adam", "lr": 3e-3, "batch_size": 64, "dropout": 0.1}
    assert type(flat["lr"]) is float and type(flat["batch_size"]) is int
    assert flatten(flat) == flat


def test_format_tables_prints_every_optimizer_and_range() -> None:
    text = format_tables()
    for row in spaces.LR_TABLE:
        assert f"| {row.label} | `{row.name}` | [{row.low:g}, {row.high:g}] |" in text
    for fragment in [
        "a power of two in [1, 1024]",
        "| `dropout` | a number in [0, 0.5] | 0.5 |",
        "a number in [0, 0.0001]",
        "one of [1, 3, 5, 7]",
        "an integer in [100, 600]",
        "an integer in [1, 4]",
    ]:
        assert fragment in text


def test_format_tables_prints_only_the_tables_asked_for() -> None:
    text = format_tables(["cnn"])
    assert "`kernel_size`" in text and "Adam" not in text


def test_format_tables_refuses_an_unknown_table() -> None:
    message = (
        r"^TABLE must be one of lr, optimization, regularization, cnn, rnn, transformer, mlp, "
        r"tricks, schedule; got 'nope'$"
    )
    with pytest.raises(SearchSpaceError, match=message):
        format_tables(["nope"])
