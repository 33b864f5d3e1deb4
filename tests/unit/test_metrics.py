"""Which way each metric is better, decided once: the best of a trial's epochs, the order that
puts the best trial first, the loss TPE minimises, and whether a target is met."""

from __future__ import annotations

import pytest

from raytune_hp.metrics import (
    MODES,
    TASK_METRICS,
    TASKS,
    VAL_ACC,
    VAL_LOSS,
    best_of,
    comparison,
    reached,
    to_loss,
    worst,
)


def test_accuracy_is_better_higher_and_losses_and_errors_lower() -> None:
    assert MODES == {VAL_ACC: "max", VAL_LOSS: "min", "val_rmse": "min", "val_mae": "min"}


@pytest.mark.parametrize(("mode", "best"), [("max", 0.97), ("min", 0.12)])
def test_the_best_and_the_order_agree(mode: str, best: float) -> None:
    values = [0.5, 0.97, 0.12, 0.6]
    assert best_of(values, mode) == best  # type: ignore[arg-type]
    # Sorting by the loss puts the best first, as the summary and the searcher's history do.
    assert sorted(values, key=lambda v: to_loss(v, mode))[0] == best  # type: ignore[arg-type]


def test_a_target_is_met_from_the_better_side_and_at_it() -> None:
    assert reached(0.95, 0.95, "max") and reached(0.99, 0.95, "max")
    assert not reached(0.94, 0.95, "max")
    assert reached(0.2, 0.2, "min") and not reached(0.21, 0.2, "min")
    assert (comparison("max"), comparison("min")) == ("≥", "≤")


def test_every_task_reports_val_loss_and_metrics_with_a_direction_and_a_worst_value() -> None:
    assert set(TASK_METRICS) == set(TASKS) == {"classification", "regression"}
    for reported in TASK_METRICS.values():
        assert VAL_LOSS in reported and set(reported) <= set(MODES)
    # The first is the task's default metric (what train.metric is when the config names none).
    assert [reported[0] for reported in TASK_METRICS.values()] == [VAL_ACC, "val_rmse"]
    assert [worst(m) for m in (VAL_ACC, VAL_LOSS, "val_rmse", "val_mae")] == [0.0, 1e9, 1e9, 1e9]
