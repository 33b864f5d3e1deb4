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
from raytune_hp.config.budget import BudgetConfig
from raytune_hp.errors import ConfigError

__all__ = [
    "DEFAULT_TRIALS",
    "BudgetLedger",
    "BudgetRecord",
    "asha_milestones",
    "budget_ledger",
    "budget_plan",
    "expected_trial_epochs",
    "grown_budget",
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


def grown_budget(config: ExperimentConfig, budget: BudgetConfig) -> BudgetConfig:
    """``budget``, checked to grow the experiment that ran with ``config`` (``--resume``): the
    same unit, no less, and a budget to grow.

    Raises:
        ConfigError: it cannot grow it, in one line.

    Example:
        >>> from raytune_hp.config import config_from
        >>> config = config_from({"name": "x", "search": {"budget": "400 epochs"}})
        >>> str(grown_budget(config, BudgetConfig(epochs=800)))
        '800 epochs'
        >>> grown_budget(config, BudgetConfig(hours=1))
        Traceback (most recent call last):
        raytune_hp.errors.ConfigError: --resume: search.budget must count epochs as the experiment's (400 epochs) does; got 1 hour
    """  # noqa: E501
    before = config.search.budget
    if before is None or config.search.strategy == "grid":
        what = "a grid" if config.search.strategy == "grid" else "an experiment run without one"
        raise ConfigError(f"--resume: search.budget must not be given to grow {what}; got {budget}")
    if budget.unit != before.unit:
        counted = "epochs" if before.unit == "epochs" else "time"
        raise ConfigError(
            f"--resume: search.budget must count {counted} as the experiment's ({before}) does; "
            f"got {budget}"
        )
    if budget.amount < before.amount:
        raise ConfigError(
            f"--resume: search.budget must be at least the experiment's {before} (it grows, it "
            f"never shrinks); got {budget}"
        )
    return budget
