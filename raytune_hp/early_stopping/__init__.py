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

import math
from typing import Any

from raytune_hp.config import ExperimentConfig
from raytune_hp.metrics import EPOCH

__all__ = [
    "AUTO_REDUCTION_FACTOR",
    "asha_milestones",
    "asha_settings",
    "build_early_stopping",
    "rung_epochs",
]

AUTO_REDUCTION_FACTOR = 3.0
"""``reduction_factor: auto``: keep the best third at each rung (the ASHA paper's default)."""


def asha_settings(config: ExperimentConfig) -> tuple[int, float]:
    """ASHA's grace period and reduction factor for ``config``, ``auto`` resolved: a factor
    of :data:`AUTO_REDUCTION_FACTOR`, a grace period of ``max_epochs`` over its square (at
    least 1), so that trials meet at three rungs however many epochs they may train.

    Example:
        >>> stopping = {"grace_period": "auto"}
        >>> config = ExperimentConfig.model_validate(
        ...     {"name": "x", "train": {"max_epochs": 52}, "early_stopping": stopping})
        >>> asha_settings(config)
        (6, 3.0)
    """
    stopping = config.early_stopping
    given = stopping.reduction_factor
    factor = AUTO_REDUCTION_FACTOR if given == "auto" else float(given)
    if stopping.grace_period == "auto":
        return max(1, round(config.train.max_epochs / factor**2)), factor
    return stopping.grace_period, factor


def asha_milestones(max_epochs: int, grace_period: float, reduction_factor: float) -> list[int]:
    """The epochs at which ASHA decides whether a trial goes on, below ``max_epochs``, placed as
    Ray's ASHA places its rungs (a trial is judged at the first epoch that reaches a rung).

    Example:
        >>> asha_milestones(20, 1, 2), asha_milestones(4, 1, 2), asha_milestones(18, 2, 3)
        ([1, 2, 4, 8, 16], [1, 2], [2, 6])
    """
    count = int(math.log(max_epochs / grace_period) / math.log(reduction_factor) + 1)
    rungs = (grace_period * reduction_factor**k for k in range(count))
    return sorted({math.ceil(rung) for rung in rungs if rung < max_epochs})


def rung_epochs(config: ExperimentConfig) -> tuple[float, ...]:
    """The epochs at which trials are compared, ascending: ASHA's milestones
    (:func:`asha_milestones`) and the last epoch; without early stopping only the last epoch.

    Example:
        >>> from raytune_hp.config import load_config
        >>> rung_epochs(load_config("configs/quickstart.yaml"))
        (2.0, 6.0, 18.0)
    """
    last = config.train.max_epochs
    if config.early_stopping.name == "none":
        return (float(last),)
    milestones = asha_milestones(last, *asha_settings(config))
    return (*(float(m) for m in milestones), float(last))


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
        grace_period=asha_settings(config)[0],
        reduction_factor=asha_settings(config)[1],
    )
