"""The grid over a space: a few values per range, every choice, and every combination of them.

Ranges get ``points`` values (log-spaced on log ranges, powers of two and integers on a log
scale); the children of a conditional get their own values under each value of their parent (the
learning rate spread over each optimizer's own range). A grid grows exponentially with the
hyperparameters it tunes, so :data:`MAX_GRID_DIMENSIONS` is the most a grid should tune, and
:func:`oversized_grid` says when a space tunes more.

Example:
    >>> from raytune_hp.spaces import resolve_space
    >>> fixed = {"hidden_size": 128, "num_layers": 1, "batch_size": 64}
    >>> space = resolve_space("mlp", {"optimizer": ["adam", "sgd"], **fixed})
    >>> space.tuned
    ('optimizer', 'lr', 'dropout', 'weight_decay')
    >>> grid_size(space, 3), oversized_grid(space, 3)  # 2 optimizers × 3 lrs × 3 × 3
    (54, None)
    >>> grid(space, 3)[0]  # doctest: +ELLIPSIS
    {'optimizer': 'adam', 'lr': 0.001, 'batch_size': 64, 'hidden_size': 128, 'num_layers': 1, ...}
    >>> oversized_grid(resolve_space("mlp", {"optimizer": "adam"}), 3)  # 6 tuned, 3 values each
    729
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from raytune_hp.spaces.space import Dimension, SearchSpace, ordered
from raytune_hp.values import powers_of_two

MAX_GRID_DIMENSIONS = 4
"""The most hyperparameters a grid should tune: a grid grows exponentially with each one."""


def grid(space: SearchSpace, points: int) -> list[dict[str, Any]]:
    """Every combination of the space's grid values, as flat configurations: ``points`` values
    per range (log-spaced on log ranges, powers of two and integers on a log scale) and every
    choice; the children of a conditional (the lr under each optimizer) get their own grid under
    each of its values."""
    axes: list[list[dict[str, Any]]] = []
    for dim in space.top_level():
        axis = []
        for value, children in space.branches(dim, grid_values(dim, points)):
            names = [c.name for c in children]
            for combo in itertools.product(*(grid_values(c, points, value) for c in children)):
                axis.append({dim.name: value, **dict(zip(names, combo, strict=True))})
        axes.append(axis)
    return [
        ordered(space, {k: v for part in combo for k, v in part.items()})
        for combo in itertools.product(*axes)
    ]


def grid_values(dim: Dimension, points: int, parent_value: Any = None) -> list[Any]:
    """The grid's values for one dimension: its choices, or ``points`` spread over its range."""
    if dim.fixed:
        return [dim.value]
    if dim.kind == "choice":
        return list(dim.choices)
    low, high = dim.range_for(parent_value)
    if dim.kind == "pow2":
        powers = powers_of_two(low, high)
        picks = _spread(0, len(powers) - 1, min(points, len(powers)))
        return sorted({powers[round(i)] for i in picks})
    if dim.kind == "int" and dim.log_scale:
        logs = _spread(math.log(low), math.log(high), points)
        return sorted({min(max(round(math.exp(v)), int(low)), int(high)) for v in logs})
    if dim.kind == "int":
        return sorted({round(v) for v in _spread(low, high, points)})
    if dim.kind == "log":
        logs = _spread(math.log10(low), math.log10(high), points)
        return [float(f"{10**v:.3g}") for v in logs]
    return [float(f"{v:.3g}") for v in _spread(low, high, points)]


def grid_size(space: SearchSpace, points: int) -> int:
    """How many trials the grid of ``space`` has."""
    size = 1
    for dim in space.top_level():
        size *= sum(
            math.prod(len(grid_values(c, points, value)) for c in children)
            for value, children in space.branches(dim, grid_values(dim, points))
        )
    return size


def oversized_grid(space: SearchSpace, points: int) -> int | None:
    """How many trials a ``points``-point grid over ``space`` has, when the space tunes more than
    :data:`MAX_GRID_DIMENSIONS` hyperparameters; ``None`` when it tunes few enough for a grid.

    This is the one grid-size rule: config loading refuses such a grid unless forced, and
    ``raytune-hp check`` warns of a forced one, each quoting the trial count.
    """
    if len(space.tuned) <= MAX_GRID_DIMENSIONS:
        return None
    return grid_size(space, points)


def _spread(low: float, high: float, points: int) -> list[float]:
    if points == 1:
        return [low]
    return [low + (high - low) * i / (points - 1) for i in range(points)]
