"""How many trials a budget is expected to pay for, for what is sized in trials.

TPE's random start-up trials, the progress line's time left and coarse-to-fine's split were sized
from ``search.num_samples``; under an epoch budget they take :func:`planned_trials`: the budget
divided by :func:`expected_trial_epochs`, the epochs one trial uses on average under the
configured early stopping. A time budget says nothing of trials before epochs have been timed, so
it plans the cap, or ``num_samples``' default where there is none.

Example:
    >>> from raytune_hp.config import load_config
    >>> config = load_config("configs/quickstart.yaml", ["search.budget=400 epochs"])
    >>> asha_milestones(18, 2, 3), round(expected_trial_epochs(config), 2)
    ([2, 6], 4.67)
    >>> planned_trials(config)
    24
    >>> planned_trials(config.model_copy(update={"search": config.search.model_copy(
    ...     update={"num_samples": 200})}))
    86
"""

from __future__ import annotations

from raytune_hp.config import ExperimentConfig, SearchConfig
from raytune_hp.early_stopping import asha_milestones, asha_settings

DEFAULT_TRIALS: int = SearchConfig.model_fields["num_samples"].default
"""What a time budget without a cap plans for: ``num_samples``' default."""


def trial_cap(config: ExperimentConfig) -> int | None:
    """The most trials the search may run: ``num_samples``; under a budget only where it was
    given, else ``None`` (no cap).

    Example:
        >>> from raytune_hp.config import config_from
        >>> trial_cap(config_from({"name": "x", "search": {"budget": "400 epochs"}})) is None
        True
        >>> trial_cap(config_from({"name": "x", "search": {"budget": "1 hour", "num_samples": 50}}))
        50
    """
    search = config.search
    if search.budget is None or "num_samples" in search.model_fields_set:
        return search.num_samples
    return None


def expected_trial_epochs(config: ExperimentConfig) -> float:
    """The epochs one trial is expected to train: ``train.max_epochs`` without early stopping;
    under ASHA every trial trains to the first rung, and a ``1 / reduction_factor`` share of
    those reaching a rung goes on to the next (ASHA's promotion rate once its rungs are full; the
    first trials of a search pass emptier rungs, so a small search runs somewhat fewer trials).
    """
    max_epochs = config.train.max_epochs
    if config.early_stopping.name != "asha":
        return float(max_epochs)
    grace, factor = asha_settings(config)
    expected, reaching, trained = 0.0, 1.0, 0
    for milestone in asha_milestones(max_epochs, grace, factor):
        expected += reaching * (milestone - trained)
        trained, reaching = milestone, reaching / factor
    return expected + reaching * (max_epochs - trained)


def planned_trials(config: ExperimentConfig, spent_epochs: float = 0) -> int:
    """The trials the search is expected to run (at least 1), for what is sized in trials:
    ``num_samples`` without a budget; under an epoch budget the epochs left (the budget less
    ``spent_epochs``) ÷ :func:`expected_trial_epochs`, capped by :func:`trial_cap`; under a time
    budget the cap, or :data:`DEFAULT_TRIALS`."""
    budget, cap = config.search.budget, trial_cap(config)
    if budget is None:
        return config.search.num_samples
    if budget.epochs is None:
        return cap or DEFAULT_TRIALS
    expected = max(1, round((budget.epochs - spent_epochs) / expected_trial_epochs(config)))
    return min(expected, cap) if cap is not None else expected


def budget_plan(config: ExperimentConfig) -> str:
    """What the search may spend, in words: ``24 trials`` without a budget; under one, what it is
    expected to pay for, and whether ``num_samples`` caps the trials below that.

    Example:
        >>> from raytune_hp.config import load_config
        >>> budget_plan(load_config("configs/quickstart.yaml"))
        '24 trials'
        >>> budget_plan(load_config("configs/quickstart.yaml", ["search.budget=400 epochs"]))
        '400 epochs: about 86 trials of 4.67 epochs under ASHA, but search.num_samples caps them at 24'
        >>> budget_plan(load_config("configs/quickstart.yaml", ["search.budget=1 hour"]))
        '1 hour, at most 24 trials'
    """  # noqa: E501
    budget, cap = config.search.budget, trial_cap(config)
    if budget is None:
        return f"{config.search.num_samples} trials"
    if budget.epochs is None:
        return f"{budget}, at most {cap} trials" if cap is not None else str(budget)
    each = expected_trial_epochs(config)
    paid = max(1, round(budget.epochs / each))
    under = " under ASHA" if config.early_stopping.name == "asha" else ""
    text = f"{budget}: about {paid} trials of {each:.3g} epochs{under}"
    if cap is not None and cap < paid:
        text += f", but search.num_samples caps them at {cap}"
    return text
