"""The optimization history from fake trials (no Ray): the best-so-far line the plot draws,
against the trial's number and the wall time, the sentence under it, and the plot itself."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from raytune_hp.config import ExperimentConfig
from raytune_hp.report import TrialRecord, plot_optimization_history
from raytune_hp.report.history import best_so_far, last_improvement, position
from raytune_hp.report.importance import Importance
from raytune_hp.report.plots import OPTIMIZATION_HISTORY_PNG, write_plots
from raytune_hp.storage import ExperimentStore


def _trial(
    number: int, best: float | None, status: str, started: float, ended: float
) -> TrialRecord:
    epochs = 18 if status == "completed" else 2
    times = {"started": started, "ended": ended}
    return TrialRecord(f"{number:03d}", status, {}, best, epochs, number=number, **times)


# Trial 4 failed before reporting anything; trial 3 was stopped early; they ran two at a time.
HISTORY = [
    _trial(1, 0.90, "completed", 100, 118),
    _trial(2, 0.95, "completed", 100, 118),
    _trial(3, 0.97, "stopped early", 118, 120),
    _trial(4, None, "failed", 118, 118),
    _trial(5, 0.96, "completed", 120, 138),
    _trial(6, 0.99, "completed", 120, 140),
]


def test_the_best_so_far_steps_up_with_each_better_trial_in_number_order() -> None:
    line = best_so_far(HISTORY, "max")
    # A stopped-early trial counts with what it reached; the failed one has no point.
    assert line == [(1, 0.90), (2, 0.95), (3, 0.97), (5, 0.97), (6, 0.99)]
    # Where lower is better the line steps down.
    losses = [replace(t, best=None if t.best is None else 1 - t.best) for t in HISTORY]
    assert [round(best, 2) for _, best in best_so_far(losses, "min")] == [
        0.1,
        0.05,
        0.03,
        0.03,
        0.01,
    ]


def test_against_wall_time_each_trial_counts_when_it_ended() -> None:
    # Seconds from the first trial's start; trials 1 and 2 end together.
    line = [(18, 0.90), (18, 0.95), (20, 0.97), (38, 0.97), (40, 0.99)]
    assert best_so_far(HISTORY, "max", "time") == line
    untimed = [replace(t, started=None, ended=None) for t in HISTORY]
    assert best_so_far(untimed, "max", "time") == []


def test_phases_are_placed_one_after_the_other() -> None:
    coarse = [replace(t, phase="coarse") for t in HISTORY[:3]]
    fine = [replace(t, phase="fine", started=t.started + 100) for t in HISTORY[:2]]
    where = position([*fine, *coarse], "number")
    assert [where(t) for t in [*coarse, *fine]] == [1, 2, 3, 4, 5]


def test_the_sentence_says_whether_more_trials_may_help() -> None:
    late = last_improvement(HISTORY, "max", "val_acc")
    assert late == (
        "The best `val_acc` so far, 0.99, came with trial 6 of 6 (up from 0.97, trial 3's), late "
        "in the search: more trials may still help."
    )
    flat = [*HISTORY, *(_trial(n, 0.9, "stopped early", 140, 142) for n in range(7, 13))]
    assert last_improvement(flat, "max", "val_acc").endswith(
        "came with trial 6 of 12 (up from 0.97, trial 3's); the 6 trials since found nothing "
        "better: more trials of this space are unlikely to help much, a narrower space (see "
        "below) may."
    )
    assert last_improvement([HISTORY[3]], "max", "val_acc") == ""


def test_the_plot_draws_that_line_on_two_panels_and_is_written(
    config: ExperimentConfig, trials: list[TrialRecord], tmp_path: Path
) -> None:
    figure = plot_optimization_history(HISTORY, "val_acc", "max")
    by_number, by_time = figure.axes[:2]
    steps = [line for line in by_number.lines if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 1
    # The line runs on to the last trial, scored or not.
    assert list(steps[0].get_ydata()) == [0.90, 0.95, 0.97, 0.97, 0.99, 0.99]
    assert by_time.get_xlabel() == "wall time at the trial's end (s)"
    importance = Importance({})
    written = write_plots(ExperimentStore(str(tmp_path)), trials, config, importance)
    assert written[0] == OPTIMIZATION_HISTORY_PNG
    assert (tmp_path / OPTIMIZATION_HISTORY_PNG).read_bytes().startswith(b"\x89PNG")
    assert plot_optimization_history([HISTORY[3]], "val_acc", "max") is None
