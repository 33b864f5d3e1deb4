"""Coarse-to-fine's fine space, drawn around the best of random draws: it lies inside the coarse
space, holds every one of the best, and narrows each range around them on its own scale."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from raytune_hp.config import load_config
from raytune_hp.search import narrowed_space
from raytune_hp.spaces import contains, resolve_space, sample

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def log_width(low: float, high: float) -> float:
    return math.log(high) - math.log(low)


def test_the_fine_space_lies_in_the_coarse_one_and_holds_the_best() -> None:
    config = load_config(QUICKSTART, ["search.strategy=coarse-to-fine"])  # the tables' ranges
    coarse = config.search_space()
    shrunk, shrunk_batch = 0, 0
    for seed in range(20):
        drawn = sample(coarse, 30, seed)
        scores = np.random.default_rng(seed).random(len(drawn))
        best = [drawn[i] for i in np.argsort(scores)[-3:]]
        fine = resolve_space("cnn", {**config.space, **narrowed_space(coarse, best)})
        for point in best:
            assert contains(fine, point), (seed, point)
        for point in sample(fine, 200, seed):
            assert contains(coarse, point), (seed, point)
        for name in ("optimizer", "kernel_size"):
            assert set(fine[name].choices_or_range()) == {point[name] for point in best}, name
        step = log_width(*coarse["batch_size"].bounds) / 4  # one step of a 5-point grid
        sizes = [point["batch_size"] for point in best]
        batch = fine["batch_size"].choices_or_range()
        low, high = min(batch), max(batch)
        # The span of the best, one log-scale step wider each side, out to powers of two.
        assert low >= 2 ** math.floor(math.log2(min(sizes) * math.exp(-step))), seed
        assert high <= 2 ** math.ceil(math.log2(max(sizes) * math.exp(step))), seed
        assert log_width(low, high) <= log_width(*coarse["batch_size"].bounds)
        shrunk_batch += log_width(low, high) < log_width(*coarse["batch_size"].bounds)
        for optimizer in {point["optimizer"] for point in best}:
            lrs = [point["lr"] for point in best if point["optimizer"] == optimizer]
            c_low, c_high = coarse.lr_range(optimizer)
            f_low, f_high = fine.lr_range(optimizer)
            step = log_width(c_low, c_high) / 4
            # The span of the best, one log-scale step wider on each side, clipped to the coarse.
            assert f_low == pytest.approx(max(c_low, min(lrs) * math.exp(-step)), rel=1e-9)
            assert f_high == pytest.approx(min(c_high, max(lrs) * math.exp(step)), rel=1e-9)
            assert log_width(f_low, f_high) <= log_width(c_low, c_high)
            shrunk += log_width(f_low, f_high) < 0.99 * log_width(c_low, c_high)
    assert shrunk >= 20  # most of the ~40 optimizer ranges narrow
    assert shrunk_batch >= 5, shrunk_batch


def test_an_integer_on_a_log_scale_narrows_on_the_log_scale() -> None:
    coarse = resolve_space("mlp", {"width": {"kind": "int", "low": 8, "high": 512, "log": True}})
    narrowed = narrowed_space(coarse, [{"width": 32}, {"width": 64}])["width"]
    # One step of a 5-point log grid over [8, 512] is ×2.83: [32 / 2.83, 64 × 2.83], out to
    # integers; a linear step (126) would have reached down to 8.
    assert narrowed == {"kind": "int", "log": True, "low": 11, "high": 182}
    fine = resolve_space("mlp", {"width": narrowed})
    assert fine["width"].log_scale
    assert all(11 <= point["width"] <= 182 for point in sample(fine, 200, 0))


def test_changed_kinds_and_the_configs_own_keep_their_kind_in_the_fine_space() -> None:
    overrides = {
        "batch_size": {"kind": "int", "low": 16, "high": 200},
        "dropout": {"kind": "choice", "choices": [0.1, 0.2, 0.3]},
        "weight_decay": {"kind": "log", "low": 1e-6, "high": 1e-4},
        "width": {"kind": "pow2", "low": 16, "high": 128},
        "activation": {"kind": "choice", "choices": ["relu", "tanh", "gelu"]},
    }
    coarse = resolve_space("cnn", overrides)
    best = sample(coarse, 30, 0)[:3]
    narrowed = narrowed_space(coarse, best)
    assert {name: narrowed[name]["kind"] for name in overrides} == {
        name: spec["kind"] for name, spec in overrides.items()
    }
    fine = resolve_space("cnn", {**overrides, **narrowed})
    assert fine["batch_size"].kind_changed and fine["width"].custom
    for point in best:
        assert contains(fine, point), point
    for point in sample(fine, 200, 0):
        assert contains(coarse, point), point


def test_a_shipped_config_with_its_own_hyperparameters_has_a_fine_space() -> None:
    config = load_config(QUICKSTART.parent / "custom.yaml")
    coarse = config.search_space()
    best = sample(coarse, 30, 0)[:3]
    # As the experiment builds it: the config's space, the narrowed ranges over it.
    fine = config.search_space({**config.space, **narrowed_space(coarse, best)})
    assert all(contains(fine, point) for point in best)
    assert fine["width"].custom and fine["activation"].custom


def test_a_wide_coarse_space_narrows_to_a_fine_one_that_may_leave_the_tables() -> None:
    config = load_config(QUICKSTART, ["space.bounds=wide"])
    coarse = config.search_space()
    best = [
        point
        for point in sample(coarse, 400, seed=1)
        if point["optimizer"] == "adam" and point["lr"] > 1e-2 and point["weight_decay"] > 1e-4
    ][:3]
    assert len(best) == 3
    fine = resolve_space("cnn", {**config.space, **narrowed_space(coarse, best)})
    assert all(contains(fine, point) for point in best)
    assert fine.lr_range("adam")[1] > 1e-2
    assert fine["weight_decay"].kind == "log"  # narrowed on the scale it was searched on
    assert all(contains(coarse, point) for point in sample(fine, 200, seed=2))
