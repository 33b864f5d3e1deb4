"""The trials placed on the search space's dimensions, as the importance estimate and the plots
both see them: which dimensions were tuned, which are searched on a log scale, each value on its
search scale, and a choice's categories.

Example:
    >>> from raytune_hp.spaces import resolve_space
    >>> space = resolve_space("cnn")
    >>> is_log(space["lr"]), on_search_scale(space["lr"], 1e-3)
    (True, -3.0)
"""

from __future__ import annotations

import math
from typing import Any

from raytune_hp.report.trials import TrialRecord
from raytune_hp.spaces import LR, Dimension, SearchSpace


def tuned_dims(trials: list[TrialRecord], space: SearchSpace) -> list[Dimension]:
    """The searched (not fixed) dimensions that some trial has."""
    return [
        dim
        for dim in space.dims
        if not dim.fixed and any(dim.name in trial.hparams for trial in trials)
    ]


def is_log(dim: Dimension) -> bool:
    """Whether ``dim`` is searched on a log scale: log-uniform, powers of two, integers on a log
    scale, or the learning rate (whose range depends on the optimizer)."""
    return dim.log_scale or dim.name == LR


def on_search_scale(dim: Dimension, value: Any) -> float:
    """``value`` on the scale it is searched on: log10 for log-scale hyperparameters."""
    return math.log10(value) if is_log(dim) else float(value)


def categories_of(dim: Dimension, trials: list[TrialRecord]) -> list[Any]:
    """The dimension's choices, then any other value a trial took (a narrowed or older space)."""
    taken = [trial.hparams[dim.name] for trial in trials if dim.name in trial.hparams]
    return [*dim.choices, *dict.fromkeys(value for value in taken if value not in dim.choices)]
