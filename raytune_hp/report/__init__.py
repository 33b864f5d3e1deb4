"""What an experiment folder holds, read back from disk: ``summary.md``, ``best_config.yaml``
and the plots under ``plots/`` that ``summary.md`` shows.

Everything here works from the folder alone (Ray's experiment state plus each trial's results),
so ``raytune-hp report RUN_DIR`` can rewrite it for any finished or interrupted experiment. The
optimization history tells whether more trials would help; the plots (learning curves, the
metric against each hyperparameter, parallel coordinates) and the importance estimate, with its
advice, tell what to change in the space next time.

The modules: ``trials`` reads the trials back, ``summary`` writes ``summary.md`` and
``best_config.yaml`` (``write_reports`` writes everything), ``importance`` estimates which
hyperparameters mattered on trials compared at one epoch, ``advice`` says in words what to do
with each, ``history`` follows the best score so far, ``plots`` draws the figures,
``dimensions`` places trials on the search space's dimensions for both, and ``budget`` says how a
search's budget was spent.

Example:
    >>> from raytune_hp.config import load_config
    >>> trials = write_reports("runs/quickstart", load_config("runs/quickstart/config.yaml"))
    ... # doctest: +SKIP
"""

from __future__ import annotations

from raytune_hp.report.budget import budget_spending
from raytune_hp.report.importance import Importance, hparam_importance
from raytune_hp.report.plots import (
    plot_importance,
    plot_learning_curves,
    plot_metric_vs_hparams,
    plot_optimization_history,
    plot_parallel_coordinates,
    write_plots,
)
from raytune_hp.report.summary import best_config, summary_markdown, write_reports
from raytune_hp.report.trials import TrialRecord, load_trials

__all__ = [
    "Importance",
    "TrialRecord",
    "best_config",
    "budget_spending",
    "hparam_importance",
    "load_trials",
    "plot_importance",
    "plot_learning_curves",
    "plot_metric_vs_hparams",
    "plot_optimization_history",
    "plot_parallel_coordinates",
    "summary_markdown",
    "write_plots",
    "write_reports",
]
