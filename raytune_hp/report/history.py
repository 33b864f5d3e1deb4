"""The optimization history: each trial's score in the order the searcher proposed the trials
and in wall time, with the best score so far as a step line, so a reader can tell whether more
trials would help.

A trial's point is its score (its best epoch's metric) at the fidelity it reached: a trial
stopped early counts with what it reached, as the summary ranks it. A trial without a score
(failed before an epoch, skipped) has no point: the plot marks it at the bottom.

Example:
    >>> from raytune_hp.report.trials import TrialRecord
    >>> trials = [TrialRecord(f"{n:03d}", "completed", {}, score, 3, number=n)
    ...           for n, score in [(1, 0.90), (2, 0.85), (3, 0.95), (4, 0.93)]]
    >>> best_so_far(trials, "max")
    [(1.0, 0.9), (2.0, 0.9), (3.0, 0.95), (4.0, 0.95)]
    >>> import textwrap
    >>> print(textwrap.fill(last_improvement(trials, "max", "val_acc"), 80))
    The best `val_acc` so far, 0.95, came with trial 3 of 4 (up from 0.9, trial
    1's), late in the search: more trials may still help.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from raytune_hp.metrics import Mode, to_loss
from raytune_hp.report.trials import TrialRecord, scored_trials
from raytune_hp.values import compact

Axis = Literal["number", "time"]
"""What the history is drawn against: the trial's number, or the wall time at its end."""

STILL_IMPROVING = 0.25
"""The best so far improving within the last quarter of the trials: more may still help."""


def position(trials: list[TrialRecord], axis: Axis) -> Callable[[TrialRecord], float | None]:
    """A trial's x on ``axis``: its number (in an experiment of several phases, its place in
    the order the phases and their trials ran), or the seconds from the experiment's first
    epoch's start to the end of its last epoch (``None`` for a trial with no timestamps)."""
    if axis == "time":
        start = min((t.started for t in trials if t.started is not None), default=0.0)
        return lambda trial: None if trial.ended is None else trial.ended - start
    phases: dict[str, float] = {}
    for trial in trials:
        began = trial.started if trial.started is not None else math.inf
        phases[trial.phase] = min(phases.get(trial.phase, math.inf), began)
    if len(phases) < 2:
        return lambda trial: float(trial.number)
    ranked = sorted(trials, key=lambda t: (phases[t.phase], t.phase, t.number))
    place = {id(trial): float(i) for i, trial in enumerate(ranked, start=1)}
    return lambda trial: place.get(id(trial))


def best_so_far(
    trials: list[TrialRecord], mode: Mode, axis: Axis = "number"
) -> list[tuple[float, float]]:
    """The step line: for each trial with a score and a place on ``axis``, in order along it,
    ``(x, the best score of it and every trial before it)``."""
    where = position(trials, axis)
    points = sorted(
        (x, float(trial.best))
        for trial in scored_trials(trials)
        if (x := where(trial)) is not None and trial.best is not None
    )
    line: list[tuple[float, float]] = []
    for x, score in points:
        best = score if not line or to_loss(score, mode) < to_loss(line[-1][1], mode) else None
        line.append((x, best if best is not None else line[-1][1]))
    return line


def last_improvement(trials: list[TrialRecord], mode: Mode, metric: str) -> str:
    """One sentence on the history: which trial brought the best score so far, and whether
    more trials may still help (it came in the last quarter of the trials) or probably not (the
    trials since found nothing better)."""
    line = best_so_far(trials, mode)
    if not line:
        return ""
    where = position(trials, "number")
    places = [x for trial in trials if (x := where(trial)) is not None]
    when = next(x for x, best in line if best == line[-1][1])
    after = sum(place > when for place in places)
    said = (
        f"The best `{metric}` so far, {compact(line[-1][1])}, came with trial {int(when)} of "
        f"{len(places)}"
    )
    before = [(x, best) for x, best in line if x < when]
    if before:
        previous = next(x for x, best in line if best == before[-1][1])
        said += f" (up from {compact(before[-1][1])}, trial {int(previous)}'s)"
    if len(places) < 4:
        return f"{said}."
    if after <= STILL_IMPROVING * len(places):
        return f"{said}, late in the search: more trials may still help."
    return (
        f"{said}; the {after} trials since found nothing better: more trials of this space are "
        "unlikely to help much, a narrower space (see below) may."
    )
