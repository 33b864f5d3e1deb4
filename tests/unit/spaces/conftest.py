"""Shared by the space tests: the untouched CNN space, draws from it by both samplers, and a
check that a configuration lies inside the tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from raytune_hp.spaces import OPTIMIZERS, SearchSpace, flatten, resolve_space, sample, to_tune

DRAWS = 300
TuneSamples = Callable[..., list[dict[str, Any]]]


def _tune_samples(space: SearchSpace, n: int = DRAWS) -> list[dict[str, Any]]:
    """``n`` flat configurations drawn by Ray Tune's own generator from ``to_tune(space)``."""
    from ray.tune.search.variant_generator import generate_variants

    compiled = to_tune(space)
    return [
        flatten(config)
        for i in range(n)
        for _, config in generate_variants(compiled, random_state=i)
    ]


def _assert_inside_tables(config: Mapping[str, Any]) -> None:
    low, high = OPTIMIZERS[config["optimizer"]].low, OPTIMIZERS[config["optimizer"]].high
    assert low <= config["lr"] <= high, config
    batch = config["batch_size"]
    assert type(batch) is int and 1 <= batch <= 1024 and batch & (batch - 1) == 0, config
    assert 0 <= config["dropout"] <= 0.5, config
    assert 0 <= config["weight_decay"] <= 1e-4, config
    assert config["kernel_size"] in {1, 3, 5, 7}, config
    assert type(config["num_kernels"]) is int and 100 <= config["num_kernels"] <= 600, config
    assert config["num_layers"] in {1, 2, 3, 4}, config


@pytest.fixture(scope="session")
def tune_samples() -> TuneSamples:
    """Draws flat configurations with Ray Tune's own generator: ``tune_samples(space, n)``."""
    return _tune_samples


@pytest.fixture(scope="session")
def assert_inside_tables() -> Callable[[Mapping[str, Any]], None]:
    """Asserts that a CNN configuration lies inside the untouched tables."""
    return _assert_inside_tables


@pytest.fixture(scope="session")
def table() -> SearchSpace:
    return resolve_space("cnn")


@pytest.fixture(scope="session", params=["hyperopt", "tune"])
def draws(request: pytest.FixtureRequest, table: SearchSpace) -> list[dict[str, Any]]:
    if request.param == "hyperopt":
        return sample(table, DRAWS, seed=0)
    return _tune_samples(table)
