"""The trials placed on the space's dimensions, as the importance estimate and the plots see
them: log-scale dimensions in log10, choices in the space's order then any older value, only
searched dimensions that some trial has."""

from __future__ import annotations

import pytest

from raytune_hp.report.dimensions import categories_of, is_log, on_search_scale, tuned_dims
from raytune_hp.report.trials import TrialRecord
from raytune_hp.spaces import resolve_space


def _trial(**hparams: object) -> TrialRecord:
    return TrialRecord("t", "completed", dict(hparams), 0.9, 3)


def test_the_lr_powers_of_two_and_log_ranges_are_on_a_log_scale() -> None:
    space = resolve_space("cnn", {"include": ["schedule"]})
    assert [d.name for d in space.dims if is_log(d)] == ["lr", "batch_size"]
    assert on_search_scale(space["lr"], 1e-3) == pytest.approx(-3.0)
    assert on_search_scale(space["batch_size"], 128) == pytest.approx(2.1072, abs=1e-4)
    assert on_search_scale(space["dropout"], 0.25) == 0.25


def test_categories_keep_the_spaces_order_and_add_values_a_trial_took() -> None:
    space = resolve_space("cnn")
    trials = [_trial(kernel_size=5), _trial(kernel_size=9), _trial(kernel_size=9), _trial()]
    # 9 came from an older or wider space: it gets a category of its own, once, at the end.
    assert categories_of(space["kernel_size"], trials) == [1, 3, 5, 7, 9]


def test_only_searched_dimensions_that_some_trial_has() -> None:
    space = resolve_space("cnn", {"num_layers": 2, "include": ["schedule"]})
    trials = [_trial(lr=1e-3, dropout=0.1), _trial(lr=2e-3, warmup_steps=500)]
    assert [d.name for d in tuned_dims(trials, space)] == ["lr", "dropout", "warmup_steps"]


def test_an_integer_on_a_log_scale_is_on_a_log_scale_and_a_changed_kind_on_its_own() -> None:
    space = resolve_space(
        "cnn",
        {
            "width": {"kind": "int", "low": 8, "high": 512, "log": True},
            "trees": {"kind": "int", "low": 8, "high": 512},
            "batch_size": {"kind": "int", "low": 16, "high": 200},
        },
    )
    assert [d.name for d in space.dims if is_log(d)] == ["lr", "width"]
    assert on_search_scale(space["width"], 100) == pytest.approx(2.0)
    assert on_search_scale(space["batch_size"], 100) == 100.0  # integers now, on a linear scale
