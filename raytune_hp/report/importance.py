"""Which hyperparameters mattered: how much of the metric's spread across the trials each tuned
hyperparameter explains (a random forest's permutation importance), and so which to tune finely
next time and which coarsely.

Example:
    >>> importance = Importance({"lr": 0.7, "dropout": 0.2, "batch_size": 0.1})
    >>> importance.advice("lr"), importance.advice("dropout")
    ('finely', 'coarsely')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raytune_hp.report.dimensions import categories_of, on_search_scale, tuned_dims
from raytune_hp.report.trials import TrialRecord, scored_trials
from raytune_hp.spaces import Dimension, SearchSpace

MIN_TRIALS_FOR_IMPORTANCE = 4
# Shuffles per hyperparameter behind its importance.
_IMPORTANCE_REPEATS = 10


@dataclass(frozen=True)
class Importance:
    """How much of the metric's spread across the trials each tuned hyperparameter explains.

    ``scores`` sum to 1, most important first; they are empty, with ``reason`` saying why, when
    the trials cannot tell. ``trials`` counts the trials used; ``missing`` the trials that a
    conditional hyperparameter did not apply to.

    Example:
        >>> importance = Importance({"lr": 0.7, "dropout": 0.2, "batch_size": 0.1})
        >>> importance.advice("lr"), importance.advice("dropout")
        ('finely', 'coarsely')
    """

    scores: dict[str, float]
    reason: str = ""
    trials: int = 0
    missing: dict[str, int] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """The even share ``1 / n``: a hyperparameter at or above it is worth tuning finely."""
        return 1 / len(self.scores) if self.scores else 1.0

    def advice(self, name: str) -> str:
        """``finely`` or ``coarsely``: how to tune ``name`` next time."""
        # The tolerance keeps an exactly even split (every score 1/n) all "finely".
        return "finely" if self.scores[name] >= self.threshold - 1e-9 else "coarsely"


def hparam_importance(trials: list[TrialRecord], space: SearchSpace, metric: str) -> Importance:
    """Estimates each tuned hyperparameter's importance from the trials that have a metric.

    A random forest learns each trial's best ``metric`` from its hyperparameters (log10 of
    log-scale ones, categories as codes); how much worse it predicts once one hyperparameter's
    column is shuffled is that hyperparameter's importance (scikit-learn's permutation
    importance), normalised to sum 1. Where a conditional hyperparameter does not apply, its
    absence counts as a value of its own.
    """
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    scored = scored_trials(trials)
    dims = [dim for dim in tuned_dims(scored, space) if _varies(dim, scored)]
    reason = _importance_skip_reason(scored, dims, metric)
    if reason:
        return Importance({}, reason, len(scored))
    x = np.column_stack([_codes(dim, scored) for dim in dims])
    y = np.array([trial.best for trial in scored])
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0)
    forest.fit(x, y)
    raw = np.clip(_permutation_importance(forest, x, y), 0.0, None)
    if raw.sum() <= 0:
        return Importance({}, f"no hyperparameter explains the spread in `{metric}`.", len(scored))
    shares = sorted(zip([d.name for d in dims], raw / raw.sum(), strict=True), key=lambda p: -p[1])
    missing = {d.name: sum(d.name not in t.hparams for t in scored) for d in dims}
    return Importance(
        {name: float(share) for name, share in shares},
        trials=len(scored),
        missing={name: count for name, count in missing.items() if count},
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


def _importance_skip_reason(scored: list[TrialRecord], dims: list[Dimension], metric: str) -> str:
    if len(scored) < MIN_TRIALS_FOR_IMPORTANCE:
        return (
            f"it needs at least {MIN_TRIALS_FOR_IMPORTANCE} trials with a `{metric}`; "
            f"got {len(scored)}."
        )
    if not dims:
        return "no tuned hyperparameter takes more than one value across the trials."
    if len({trial.best for trial in scored}) == 1:
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
