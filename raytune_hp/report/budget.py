"""How a search's budget (``search.budget``) was spent: one line for the summary and the console.

The epochs come from the trials as the folder holds them (each trial's epochs trained, its best
score's history), the wall time from ``budget.json``; both count every run of the experiment
(phases, resumed sessions, runs that grew it).

Example:
    >>> from raytune_hp.config import config_from
    >>> from raytune_hp.report.trials import TrialRecord
    >>> config = config_from({"name": "x", "train": {"max_epochs": 18},
    ...                       "search": {"budget": "60 epochs"}})
    >>> trials = [TrialRecord("1", "completed", {}, 0.9, 18), TrialRecord("2", "completed", {}, 0.8, 18),
    ...           TrialRecord("3", "stopped early", {}, 0.5, 2),
    ...           TrialRecord("4", "stopped early", {}, 0.6, 6),
    ...           TrialRecord("5", "stopped at the budget's end", {}, 0.7, 10)]
    >>> print(budget_spending(trials, config))
    Budget: 60 epochs; spent 54 in 5 trials: 2 completed (36), 2 stopped early by ASHA (8), 1 stopped at the budget's end (10)
"""  # noqa: E501

from __future__ import annotations

from raytune_hp.config import ExperimentConfig
from raytune_hp.report.trials import ENDED, STOPPED_EARLY, TrialRecord
from raytune_hp.values import duration

_WORDS = {STOPPED_EARLY: "stopped early by ASHA"}
_NOT_ENDED = ("running", "pending", "paused")


def budget_spending(
    trials: list[TrialRecord], config: ExperimentConfig, seconds: float | None = None
) -> str:
    """``Budget: <budget>; spent <what> in <n> trials: <count> <how they ended> (<epochs>), ...``;
    ``seconds`` is the wall time spent, which a time budget reports (epochs are given too).
    ``""`` for an experiment without a budget.

    Example:
        >>> from raytune_hp.config import config_from
        >>> from raytune_hp.report.trials import TrialRecord
        >>> config = config_from({"name": "x", "search": {"budget": {"minutes": 30}}})
        >>> trials = [TrialRecord("1", "completed", {}, 0.9, 20)] * 3
        >>> budget_spending(trials, config, seconds=1781)
        'Budget: 30 minutes; spent 29m41s in 3 trials (60 epochs): 3 completed (60 epochs)'
    """
    budget = config.search.budget
    if budget is None:
        return ""
    epochs = sum(trial.epochs for trial in trials)
    plural = "trial" if len(trials) == 1 else "trials"
    if budget.unit == "epochs":
        spent = f"spent {epochs} in {len(trials)} {plural}"
    else:
        spent = f"spent {duration(seconds or 0.0)} in {len(trials)} {plural} ({epochs} epochs)"
    parts: list[str] = []
    for status in (*ENDED, *_NOT_ENDED):
        ended = [trial for trial in trials if trial.status == status]
        if ended:
            trained = sum(trial.epochs for trial in ended)
            unit = " epochs" if budget.unit == "seconds" and not parts else ""
            parts.append(f"{len(ended)} {_WORDS.get(status, status)} ({trained}{unit})")
    return f"Budget: {budget}; {spent}" + (f": {', '.join(parts)}" if parts else "")
