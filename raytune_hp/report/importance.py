"""Which hyperparameters mattered, on comparable results: how much of the metric's spread across
the trials each tuned hyperparameter explains (a random forest's permutation importance, the
ranking), and what to do with each next time (the advice, in words).

Trials are compared at one epoch: a trial that ASHA stopped at epoch 2 is not ranked beside
finished ones with its epoch-2 score. :func:`comparable_scores` picks the largest epoch enough
trials reached (the whole budget where enough finished it) and scores each trial that reached
it by its best metric up to that epoch.

Example:
    >>> from raytune_hp.report.trials import TrialRecord
    >>> curves = [((1, 0.8), (2, 0.9), (3, 0.95)), ((1, 0.7), (2, 0.8)), ((1, 0.5),)] * 2
    >>> trials = [TrialRecord(f"t{i}", "completed", {}, max(v for _, v in c), len(c), curve=c)
    ...           for i, c in enumerate(curves)]
    >>> compared = comparable_scores(trials, "max")
    >>> compared.epoch, [score for _, score in compared.trials]
    (2, [0.9, 0.8, 0.9, 0.8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from raytune_hp.metrics import Mode, best_of, to_loss
from raytune_hp.report.advice import Advice, advise
from raytune_hp.report.dimensions import categories_of, on_search_scale, tuned_dims
from raytune_hp.report.trials import ENDED, TrialRecord, scored_trials
from raytune_hp.spaces import Dimension, SearchSpace

MIN_TRIALS_FOR_IMPORTANCE = 4
COMPARED_SHARE = 3
"""Trials are compared at the largest epoch that at least one in ``COMPARED_SHARE`` of the
scored trials reached (and at least :data:`MIN_TRIALS_FOR_IMPORTANCE`)."""
# Shuffles per hyperparameter behind its importance.
_IMPORTANCE_REPEATS = 10


@dataclass(frozen=True)
class Comparable:
    """The trials compared at one ``epoch``, each with its best metric up to it; ``behind``:
    the trials that ended before it, each with its standing where it stopped (the share of the
    trials that reached its last epoch that did better there: 0 the best, near 1 the worst).
    ``scored`` counts every trial with a metric, ``needed`` how many had to reach ``epoch``."""

    epoch: int
    trials: tuple[tuple[TrialRecord, float], ...]
    behind: tuple[tuple[TrialRecord, float], ...] = ()
    scored: int = 0
    needed: int = 0


def comparable_scores(trials: list[TrialRecord], mode: Mode) -> Comparable:
    """The trials with a metric, compared at the largest epoch that at least
    ``max(MIN_TRIALS_FOR_IMPORTANCE, a third of them)`` reached (as BOHB fits its model on the
    largest budget with enough observations), each scored by its best metric up to that epoch.
    """
    scored = scored_trials(trials)
    curves = [_curve(trial) for trial in scored]
    reached = [max(epoch for epoch, _ in curve) for curve in curves]
    needed = max(MIN_TRIALS_FOR_IMPORTANCE, math.ceil(len(scored) / COMPARED_SHARE))
    epochs = sorted(set(reached), reverse=True)
    epoch = next(
        (e for e in epochs if sum(r >= e for r in reached) >= needed),
        epochs[-1] if epochs else 0,
    )

    def up_to(i: int, last: int) -> float | None:
        values = [value for e, value in curves[i] if e <= last]
        return best_of(values, mode) if values else None  # None: no epoch of it that early

    at_epoch = [(trial, up_to(i, epoch)) for i, trial in enumerate(scored) if reached[i] >= epoch]
    compared = [(trial, score) for trial, score in at_epoch if score is not None]
    behind = []
    for i, trial in enumerate(scored):
        if reached[i] >= epoch or trial.status not in ENDED:
            continue  # compared, or still running: not behind, only not there yet
        there = reached[i]
        own = up_to(i, there)
        if own is None:
            continue
        mine = to_loss(own, mode)
        peers = [
            to_loss(score, mode)
            for k, r in enumerate(reached)
            if r >= there and k != i and (score := up_to(k, there)) is not None
        ]
        better = sum(peer < mine for peer in peers)
        behind.append((trial, better / max(1, len(peers))))
    return Comparable(epoch, tuple(compared), tuple(behind), len(scored), needed)


def _curve(trial: TrialRecord) -> tuple[tuple[int, float], ...]:
    """The trial's ``(epoch, metric)`` pairs; a trial that reported no epoch, its score at the
    epochs it trained."""
    if trial.curve or trial.best is None:
        return trial.curve
    return ((trial.epochs, trial.best),)


@dataclass(frozen=True)
class Importance:
    """How much of the metric's spread across the compared trials each tuned hyperparameter
    explains, and what to do with each.

    ``scores`` sum to 1, most important first; they are empty, with ``reason`` saying why, when
    the trials cannot tell. ``trials`` counts the trials compared, at ``epoch`` (``budget``: the
    whole training budget) out of ``scored`` with a metric; ``missing`` the compared trials
    that a conditional hyperparameter did not apply to; ``advice`` says for each hyperparameter
    in ``scores`` what to do next time. ``spread`` is the lowest and highest compared score,
    ``explained`` how much of that spread the hyperparameters predict for trials the forest did
    not see (its out-of-bag R²: near 1 the ranking can be trusted, near 0 or below it is noise).

    Example:
        >>> importance = Importance({"lr": 0.7, "dropout": 0.2, "batch_size": 0.1})
        >>> round(importance.threshold, 3), list(importance.scores)[0]
        (0.333, 'lr')
    """

    scores: dict[str, float]
    reason: str = ""
    trials: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    epoch: int = 0
    budget: bool = False
    scored: int = 0
    needed: int = 0
    advice: dict[str, Advice] = field(default_factory=dict)
    spread: tuple[float, float] | None = None
    explained: float | None = None

    @property
    def threshold(self) -> float:
        """The even share ``1 / n``: a hyperparameter above it matters more than the average."""
        return 1 / len(self.scores) if self.scores else 1.0


def hparam_importance(
    trials: list[TrialRecord],
    space: SearchSpace,
    metric: str,
    mode: Mode,
    max_epochs: int | None = None,
) -> Importance:
    """Estimates each tuned hyperparameter's importance, and advises on each, from the trials
    compared at one epoch (:func:`comparable_scores`).

    A random forest learns each compared trial's score from its hyperparameters (log10 of
    log-scale ones, categories as codes); how much worse it predicts once one hyperparameter's
    column is shuffled is that hyperparameter's importance (scikit-learn's permutation
    importance), normalised to sum 1. Where a conditional hyperparameter does not apply, its
    absence counts as a value of its own. ``max_epochs`` (the training budget) lets the text
    say when the trials were compared at the whole budget.
    """
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    comparable = comparable_scores(trials, mode)
    compared = [trial for trial, _ in comparable.trials]
    found = Importance(
        {},
        trials=len(compared),
        epoch=comparable.epoch,
        budget=max_epochs is not None and comparable.epoch >= max_epochs,
        scored=comparable.scored,
        needed=comparable.needed,
    )
    dims = [dim for dim in tuned_dims(compared, space) if _varies(dim, compared)]
    y = np.array([score for _, score in comparable.trials])
    reason = _importance_skip_reason(comparable.scored, dims, y, metric)
    if reason:
        return replace(found, reason=reason)
    x = np.column_stack([_codes(dim, compared) for dim in dims])
    forest = RandomForestRegressor(
        n_estimators=100, min_samples_leaf=2, random_state=0, oob_score=True
    )
    forest.fit(x, y)
    raw = np.clip(_permutation_importance(forest, x, y), 0.0, None)
    if raw.sum() <= 0:
        return replace(found, reason=f"no hyperparameter explains the spread in `{metric}`.")
    shares = sorted(zip([d.name for d in dims], raw / raw.sum(), strict=True), key=lambda p: -p[1])
    missing = {d.name: sum(d.name not in t.hparams for t in compared) for d in dims}
    advice = advise(dims, comparable.trials, mode, comparable.behind, comparable.epoch)
    return replace(
        found,
        scores={name: float(share) for name, share in shares},
        spread=(float(y.min()), float(y.max())),
        explained=float(forest.oob_score_),
        missing={name: count for name, count in missing.items() if count},
        advice={name: advice[name] for name, _ in shares},
    )


def _permutation_importance(
    model: Any, x: Any, y: Any, repeats: int = _IMPORTANCE_REPEATS, seed: int = 0
) -> Any:
    """Per column of ``x``: the mean drop in ``model``'s R² when that column is shuffled.

    scikit-learn's ``permutation_importance`` predicts once per column and repeat, and each
    call dispatches every tree; here every shuffled copy is stacked and predicted in one call,
    which is what makes the summary of a large experiment take a fraction of a second.
    """
    import numpy as np
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(seed)
    rows, cols = x.shape
    copies = np.repeat(x[np.newaxis], cols * repeats, axis=0)
    for col in range(cols):
        for repeat in range(repeats):
            copies[col * repeats + repeat, :, col] = x[rng.permutation(rows), col]
    predicted = model.predict(copies.reshape(-1, cols)).reshape(cols, repeats, rows)
    baseline = r2_score(y, model.predict(x))
    scores = np.array([[r2_score(y, p) for p in per_col] for per_col in predicted])
    return baseline - scores.mean(axis=1)


def _importance_skip_reason(scored: int, dims: list[Dimension], y: Any, metric: str) -> str:
    if scored < MIN_TRIALS_FOR_IMPORTANCE:
        return (
            f"it needs at least {MIN_TRIALS_FOR_IMPORTANCE} trials with a `{metric}`; got {scored}."
        )
    if not dims:
        return "no tuned hyperparameter takes more than one value across the trials."
    if len(set(y.tolist())) == 1:
        return f"every trial reached the same `{metric}`."
    return ""


def _varies(dim: Dimension, trials: list[TrialRecord]) -> bool:
    taken = {(dim.name in trial.hparams, trial.hparams.get(dim.name)) for trial in trials}
    return len(taken) > 1


def _codes(dim: Dimension, trials: list[TrialRecord]) -> list[float]:
    """One number per trial for the forest: the category's index, or the value on its search
    scale; where ``dim`` does not apply, a value of its own (-1, or below every value tried)."""
    if dim.kind == "choice":
        categories = categories_of(dim, trials)
        return [
            float(categories.index(trial.hparams[dim.name])) if dim.name in trial.hparams else -1.0
            for trial in trials
        ]
    tried = [
        on_search_scale(dim, trial.hparams[dim.name])
        for trial in trials
        if dim.name in trial.hparams
    ]
    absent = min(tried) - (max(tried) - min(tried) or 1.0)
    return [
        on_search_scale(dim, trial.hparams[dim.name]) if dim.name in trial.hparams else absent
        for trial in trials
    ]
