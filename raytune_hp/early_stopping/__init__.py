"""Early stopping: ASHA prunes weak trials at rungs of epochs, or nothing stops them early.

Ray calls this a "scheduler", PyTorch uses the word for learning-rate schedules; here it is early
stopping. ASHA is :class:`~raytune_hp.early_stopping.persistent_asha.PersistentASHA`, which keeps
its rungs in the experiment folder so that a resumed experiment prunes against the same history;
it is imported only when built (reading a config never imports Ray).

Example:
    >>> from raytune_hp.config import load_config
    >>> stopper = build_early_stopping(load_config("configs/quickstart.yaml"))
    >>> type(stopper).__name__, stopper.rungs()[0][-1][0]
    ('PersistentASHA', 2.0)
"""

from __future__ import annotations

from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import EPOCH

__all__ = ["build_early_stopping", "rung_epochs"]


def rung_epochs(config: ExperimentConfig) -> tuple[float, ...]:
    """The epochs at which trials are compared, ascending: ASHA's milestones (the grace period
    times powers of the reduction factor, as Ray places them) and the last epoch; without early
    stopping only the last epoch.

    Example:
        >>> from raytune_hp.config import load_config
        >>> rung_epochs(load_config("configs/quickstart.yaml"))
        (2.0, 6.0, 18.0)
    """
    import math

    last = config.train.max_epochs
    asha = config.early_stopping
    if asha.name == "none":
        return (last,)
    factor, grace = asha.reduction_factor, asha.grace_period
    count = int(math.log(last / grace) / math.log(factor) + 1)
    milestones = [grace * factor**k for k in range(count)]
    return tuple(sorted({*(float(m) for m in milestones if m < last), float(last)}))


def build_early_stopping(config: ExperimentConfig, store: Any = None) -> Any:
    """ASHA with ``epoch`` as its time attribute, its rungs kept in ``store`` (an
    :class:`~raytune_hp.storage.ExperimentStore`), or FIFO (no early stopping)."""
    if config.early_stopping.name == "none":
        from ray.tune.schedulers import FIFOScheduler

        return FIFOScheduler()
    from raytune_hp.early_stopping.persistent_asha import PersistentASHA

    return PersistentASHA(
        store,
        time_attr=EPOCH,
        metric=config.train.metric,
        mode=config.train.mode,
        max_t=config.train.max_epochs,
        grace_period=config.early_stopping.grace_period,
        reduction_factor=config.early_stopping.reduction_factor,
    )
