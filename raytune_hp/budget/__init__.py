"""A search budget in epochs or wall-clock time (``search.budget``), not only in trials.

Under a budget, trials keep being proposed until it is spent, so what early stopping saves pays
for more configurations; ``search.num_samples`` only caps the trials, where it is given. The
modules: ``estimate`` turns a budget into the trials it is expected to pay for (what TPE's
start-up, coarse-to-fine's split and the progress line are sized by), ``ledger`` holds the rules
that keep a run within its budget and what the experiment folder keeps of it (``budget.json``),
and ``tune_hooks`` enforces them in Ray Tune (imported only when a run starts: reading a config
never imports Ray).

Example:
    >>> from raytune_hp.config import load_config
    >>> config = load_config("configs/quickstart.yaml", ["search.budget={epochs: 400}"])
    >>> round(expected_trial_epochs(config), 2), trial_cap(config), planned_trials(config)
    (4.67, 24, 24)
    >>> ledger = budget_ledger(config)
    >>> ledger.unit, ledger.limit
    ('epochs', 400.0)
"""

from __future__ import annotations

from raytune_hp.budget.estimate import (
    DEFAULT_TRIALS,
    asha_milestones,
    budget_plan,
    expected_trial_epochs,
    planned_trials,
    trial_cap,
)
from raytune_hp.budget.ledger import BudgetLedger, BudgetRecord
from raytune_hp.config import ExperimentConfig

__all__ = [
    "DEFAULT_TRIALS",
    "BudgetLedger",
    "BudgetRecord",
    "asha_milestones",
    "budget_ledger",
    "budget_plan",
    "expected_trial_epochs",
    "has_room",
    "planned_trials",
    "trial_cap",
]


def budget_ledger(
    config: ExperimentConfig, share: float = 1.0, spent_before: int = 0
) -> BudgetLedger:
    """The ledger of one run of ``config``'s experiment, whose budget must be set: its limit is
    ``share`` of the budget (coarse-to-fine's coarse phase gets ``coarse_fraction``), counted
    from the experiment's start, after ``spent_before`` epochs of its earlier runs."""
    budget = config.search.budget
    if budget is None:
        raise ValueError("budget_ledger needs a config with search.budget")
    return BudgetLedger(
        budget.unit, share * budget.amount, config.train.max_epochs, spent_before=spent_before
    )


def has_room(config: ExperimentConfig, spent_epochs: int, record: BudgetRecord) -> bool:
    """Whether ``config``'s budget has room for more trials after ``spent_epochs`` epochs and
    what ``record`` (``budget.json``) says: the wall time spent, and which runs ran out of a
    budget as large (``True`` without a budget: trials are counted then).

    Example:
        >>> from raytune_hp.config import config_from
        >>> config = config_from({"name": "x", "search": {"budget": "1 hour"}})
        >>> has_room(config, 900, BudgetRecord(seconds=3000.0))
        True
        >>> has_room(config, 900, BudgetRecord(3000.0, exhausted={"": 3600.0}))
        False
    """
    budget = config.search.budget
    if budget is None:
        return True
    spent = spent_epochs if budget.unit == "epochs" else record.seconds
    return spent < budget.amount and not record.ran_out(budget.amount)
