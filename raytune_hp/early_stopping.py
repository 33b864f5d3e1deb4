"""Early stopping: ASHA prunes weak trials at rungs of epochs, or nothing stops them early.

Ray calls this a "scheduler", PyTorch uses the word for learning-rate schedules; here it is early
stopping.

Example:
    >>> from raytune_hp.config import load_config
    >>> stopper = build_early_stopping(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import EPOCH

if TYPE_CHECKING:
    from ray.tune.schedulers import TrialScheduler


def build_early_stopping(config: ExperimentConfig) -> TrialScheduler:
    """ASHA with ``epoch`` as its time attribute, or FIFO (no early stopping)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if config.early_stopping.name == "none":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr=EPOCH,
        metric=config.train.metric,
        mode=config.train.mode,
        max_t=config.train.max_epochs,
        grace_period=config.early_stopping.grace_period,
        reduction_factor=config.early_stopping.reduction_factor,
    )
