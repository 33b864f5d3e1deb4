"""The space model: which configurations a space contains, where practitioners start, and flat
configurations from nested ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from raytune_hp.spaces import OPTIMIZERS, SearchSpace, contains, flatten, resolve_space, start_point


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


def test_an_integer_on_a_log_scale_contains_and_starts_as_an_integer_does() -> None:
    width = {"kind": "int", "low": 8, "high": 512, "log": True}
    space = resolve_space("mlp", {"width": width})
    point = start_point(space)
    assert point["width"] == 8 and type(point["width"]) is int  # the low end, as for int
    assert contains(space, point)
    for inside in (8, 100, 512):  # any integer in the range: not only powers of two
        assert contains(space, {**point, "width": inside}), inside
    for outside in (7, 513, "64"):
        assert not contains(space, {**point, "width": outside}), outside
    started = resolve_space("mlp", {"width": {**width, "start": 1000}})
    assert start_point(started)["width"] == 512  # clipped into the range


def test_a_row_made_powers_of_two_by_the_config_starts_at_a_power_of_two() -> None:
    pow2 = {"kind": "pow2", "low": 64, "high": 512, "outside_table": True}
    space = resolve_space("cnn", {"num_kernels": pow2})
    point = start_point(space)
    assert point["num_kernels"] == 128  # the table's 100, at the nearest power of two
    assert contains(space, point)
    assert not contains(space, {**point, "num_kernels": 100})
