"""The smoke test at rates that learn and rates that do not, on digits with the quickstart config
(the rates the tables recommend are tested through the lr range test, which runs them)."""

from __future__ import annotations

import pytest

from raytune_hp.config import ExperimentConfig
from raytune_hp.data import Dataset
from raytune_hp.diagnostics import smoke_test
from raytune_hp.errors import RaytuneHPError


def test_smoke_test_says_when_a_rate_does_not_learn(
    quickstart: ExperimentConfig, digits: Dataset
) -> None:
    (tiny,) = smoke_test(quickstart, digits, lrs=(1e-7,), steps=20, threads=1)
    assert not tiny.learns
    assert tiny.loss_after == pytest.approx(tiny.loss_before, rel=0.01)
    assert "not clearly learning" in tiny.describe()


def test_smoke_test_refuses_bad_arguments(quickstart: ExperimentConfig, digits: Dataset) -> None:
    with pytest.raises(RaytuneHPError, match="steps must be an integer ≥ 1; got 0"):
        smoke_test(quickstart, digits, steps=0)
    with pytest.raises(RaytuneHPError, match=r"every lr must be > 0; got \[0.001, 0\]"):
        smoke_test(quickstart, digits, lrs=(1e-3, 0))
