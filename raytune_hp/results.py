"""The result of an experiment: where it is, every trial, the best one and its configuration,
and a pandas DataFrame of the trials for other tools.

:func:`raytune_hp.tune` returns it; :meth:`ExperimentResult.load` reads it back from an
experiment folder alone (``raytune-hp results RUN_DIR`` prints its table), whatever code trained
the trials.

Example:
    >>> result = ExperimentResult.load("runs/quickstart")  # doctest: +SKIP
    >>> result.best.hparams["optimizer"], round(result.best_metric, 4)  # doctest: +SKIP
    ('adam', 0.9944)
    >>> result.dataframe().columns[:8].tolist()  # doctest: +SKIP
    ['rank', 'number', 'trial', 'phase', 'status', 'val_acc', 'last', 'epochs']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError
from raytune_hp.metrics import Mode
from raytune_hp.report import TrialRecord, best_config, load_trials
from raytune_hp.storage import CONFIG_FILE, ExperimentStore, as_store, is_experiment

if TYPE_CHECKING:
    import pandas as pd

HPARAM_PREFIX = "hp."
"""Hyperparameter columns of :meth:`ExperimentResult.dataframe` start with this (``hp.lr``), so
they never collide with a metric of the same name."""


@dataclass(frozen=True)
class ExperimentResult:
    """A finished (or interrupted) experiment: where it is and its trials, best first.

    ``location`` is the experiment folder, a path or a URI; ``config`` the config it ran with.
    ``interrupted``: it stopped before every trial ended (Ctrl-C, or ``stop_signal``: the
    signal, SIGTERM or SIGHUP, that stopped it).
    """

    location: str
    config: ExperimentConfig
    trials: list[TrialRecord]
    interrupted: bool = False
    stop_signal: int | None = None

    @classmethod
    def load(cls, where: ExperimentStore | str | Path) -> ExperimentResult:
        """Reads an experiment folder (a path or a URI): its ``config.yaml`` and its trials.

        Raises:
            ConfigError: ``where`` holds no experiment.
        """
        try:
            store = as_store(where)
        except ValueError as exc:  # pyarrow's ArrowInvalid: a URI of no filesystem it knows
            raise ConfigError(
                f"RUN_DIR must be an experiment folder, or its s3://, gs://, ... URI; "
                f"got {str(where)!r} ({exc})"
            ) from None
        if not is_experiment(store):
            raise ConfigError(
                f"RUN_DIR must be an experiment folder (its {CONFIG_FILE} and Ray's experiment "
                f"state); got {str(where)!r}"
            )
        config = load_config(f"{store.location}/{CONFIG_FILE}", text=store.read_text(CONFIG_FILE))
        return cls(store.location, config, load_trials(store, config))

    @property
    def metric(self) -> str:
        """The metric the search optimized."""
        return self.config.train.metric

    @property
    def mode(self) -> Mode:
        """Which way the metric is better: ``max`` or ``min``."""
        return self.config.train.mode

    @property
    def exp_dir(self) -> Path:
        """The experiment folder, for local storage."""
        return Path(self.location)

    @property
    def best(self) -> TrialRecord | None:
        """The trial with the best metric (its best epoch's), or ``None`` when none has one."""
        return self.trials[0] if self.trials and self.trials[0].best is not None else None

    @property
    def best_metric(self) -> float | None:
        """The best trial's metric."""
        return self.best.best if self.best else None

    @property
    def best_config(self) -> dict[str, Any] | None:
        """The experiment's config with every hyperparameter fixed to the best trial's values,
        as ``best_config.yaml`` holds it: runnable as it is."""
        return best_config(self.config, self.best) if self.best else None

    @property
    def budget_spent(self) -> str:
        """How the search's budget was spent, in one line (``Budget: 400 epochs; spent 398 in
        41 trials: ...``), or ``""`` for an experiment without a budget."""
        from raytune_hp.budget import BudgetRecord
        from raytune_hp.report import budget_spending

        if self.config.search.budget is None:
            return ""
        seconds = BudgetRecord.read(as_store(self.location)).seconds
        return budget_spending(self.trials, self.config, seconds)

    def markdown(self) -> str:
        """The trials as ``summary.md``'s table, with what every trial shared above it (the
        hyperparameters the config fixed apart from those it searched), how the budget was spent
        where there was one, and the notes below."""
        from raytune_hp.report import summary_markdown

        space = self.config.search_space()
        return summary_markdown(
            self.trials, self.metric, self.mode, self.config.name, space, self.budget_spent
        )

    def dataframe(self, per_epoch: bool = False) -> pd.DataFrame:
        """The trials as a table, best first: one row per trial (its rank, number, run name,
        phase, status, score (the best epoch's metric, under the metric's name), the last
        epoch's metric, epochs trained, detail, its model's size, when it started and ended
        (seconds since the epoch), and each hyperparameter as ``hp.<name>``) or, with
        ``per_epoch``, one row per epoch a trial reported (every metric it reported).

        Example:
            >>> from raytune_hp.config import load_config
            >>> from raytune_hp.report import TrialRecord
            >>> config = load_config("configs/quickstart.yaml")
            >>> trial = TrialRecord("001_adam_lr1.0e-03", "completed", {"lr": 1e-3}, 0.97, 18,
            ...                     number=1, last=0.96)
            >>> frame = ExperimentResult("runs/quickstart", config, [trial]).dataframe()
            >>> frame[["number", "trial", "val_acc", "last", "hp.lr"]].values.tolist()
            [[1, '001_adam_lr1.0e-03', 0.97, 0.96, 0.001]]
        """
        import pandas as pd

        rows = []
        for rank, trial in enumerate(self.trials, start=1):
            head = {
                "rank": rank,
                "number": trial.number,
                "trial": trial.name,
                "phase": trial.phase,
                "status": trial.status,
            }
            hparams = {f"{HPARAM_PREFIX}{k}": v for k, v in trial.hparams.items()}
            if per_epoch:
                rows += [head | row | hparams for row in trial.history]
                continue
            summary = {
                self.metric: trial.best,
                "last": trial.last,
                "epochs": trial.epochs,
                "detail": trial.detail,
                "parameters": trial.parameters,
                "over_capacity": trial.over_capacity,
                "started": trial.started,
                "ended": trial.ended,
            }
            rows.append(head | summary | hparams)
        return pd.DataFrame(rows)
