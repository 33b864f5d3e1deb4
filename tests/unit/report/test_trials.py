"""A trial's record: what makes two records the same trial."""

from __future__ import annotations

from raytune_hp.report import TrialRecord


def test_the_curve_is_not_part_of_a_trials_identity() -> None:
    record = TrialRecord("t", "completed", {"lr": 0.01}, 0.9, 2, curve=((1, 0.5), (2, 0.9)))
    assert record == TrialRecord("t", "completed", {"lr": 0.01}, 0.9, 2)
    assert "curve" not in repr(record)
