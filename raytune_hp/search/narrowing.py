"""Coarse-to-fine's second phase: a space narrowed around the first phase's best trials.

Each tuned range shrinks to the span of the best trials' values, widened by one step of a grid on
each side (on the log scale where the range is log); choices shrink to those the best took; the
learning rate is narrowed per optimizer that remains. The result is a config's ``space``
overrides, so the fine space goes through the same resolution (and checks) as any other.

Example:
    >>> from raytune_hp.spaces import resolve_space
    >>> space = resolve_space("cnn")
    >>> best = [{"optimizer": "adam", "lr": 0.002, "dropout": 0.1},
    ...         {"optimizer": "adam", "lr": 0.004, "dropout": 0.2}]
    >>> overrides = narrowed_space(space, best)
    >>> overrides["optimizer"]
    {'value': 'adam'}
    >>> round(overrides["dropout"]["low"], 3), round(overrides["dropout"]["high"], 3)
    (0.0, 0.325)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from raytune_hp.spaces import LR, OPTIMIZER, OUTSIDE, Dimension, SearchSpace


def narrowed_space(
    space: SearchSpace, best: Sequence[Mapping[str, Any]], points: int = 5
) -> dict[str, Any]:
    """``space`` overrides for a fine phase around the ``best`` configurations.

    Each tuned range shrinks to the span of the best trials' values, widened by one step of a
    ``points``-point grid on each side (on the log scale where the range is log) and clipped to
    the coarse range; choices shrink to those among the best; the learning rate is narrowed per
    optimizer that remains. The config's own hyperparameters and rows whose kind the config
    changed keep their ``kind`` (and ``log``). The result lies inside ``space`` and contains
    every one of ``best``.

    Example:
        >>> from raytune_hp.spaces import resolve_space
        >>> width = {"kind": "int", "low": 8, "high": 512, "log": True}
        >>> space = resolve_space("mlp", {"width": width})
        >>> narrowed_space(space, [{"width": 32}, {"width": 64}])["width"]
        {'kind': 'int', 'log': True, 'low': 11, 'high': 182}
    """
    overrides: dict[str, Any] = {}
    for dim in space.dims:
        values = [config[dim.name] for config in best if dim.name in config]
        if dim.fixed or not values:
            continue
        if dim.name == LR:
            ranges = {}
            chosen = {config[OPTIMIZER] for config in best}
            for optimizer in [name for name, _, _ in dim.lr_ranges if name in chosen]:
                mine = [c[LR] for c in best if c[OPTIMIZER] == optimizer]
                low, high = _widened(mine, *dim.range_for(optimizer), log=True, points=points)
                ranges[optimizer] = {"low": low, "high": high}
            overrides[LR] = ranges
        elif dim.kind == "choice":
            kept = [choice for choice in dim.choices if choice in values]
            if dim.custom or dim.kind_changed:
                overrides[dim.name] = {"kind": "choice", "choices": kept}
            else:
                overrides[dim.name] = kept if len(kept) > 1 else {"value": kept[0]}
        else:
            low, high = fine_range(dim, values, *dim.bounds, points=points)
            overrides[dim.name] = {"low": low, "high": high}
            if dim.custom or dim.kind_changed:
                # Without its kind the override would mean the table's row (or no row at all).
                scale = {"log": True} if dim.row.log else {}
                overrides[dim.name] = {"kind": dim.kind, **scale, "low": low, "high": high}
        if (dim.outside or dim.widened) and isinstance(overrides.get(dim.name), dict):
            overrides[dim.name] = {**overrides[dim.name], OUTSIDE: True}
    return overrides


def fine_range(
    dim: Dimension, values: Sequence[float], low: float, high: float, points: int = 5
) -> tuple[float, float]:
    """The part of ``dim``'s range [``low``, ``high``] around ``values`` worth searching finely:
    their span widened by one step of a ``points``-point grid on each side (on the log scale
    where ``dim`` is searched on one), clipped to the range, in ``dim``'s kind of number.

    Example:
        >>> from raytune_hp.spaces import resolve_space
        >>> fine_range(resolve_space("cnn")["num_kernels"], [291, 293], 100, 600)
        (166, 418)
    """
    log = dim.log_scale or dim.name == LR
    low, high = _widened(values, low, high, log=log, points=points)
    if dim.kind == "pow2":
        return 2 ** math.floor(math.log2(low)), 2 ** math.ceil(math.log2(high))
    if dim.kind == "int":
        return math.floor(low), math.ceil(high)
    return low, high


def _widened(
    values: Sequence[float], low: float, high: float, log: bool, points: int
) -> tuple[float, float]:
    to = (lambda v: math.log(v)) if log else (lambda v: v)
    back = (lambda v: math.exp(v)) if log else (lambda v: v)
    step = (to(high) - to(low)) / (points - 1)
    new_low = max(to(low), to(min(values)) - step)
    new_high = min(to(high), to(max(values)) + step)
    # exp(log(x)) can miss x by an ulp: clip back into the coarse range.
    return max(low, min(back(new_low), min(values))), min(high, max(back(new_high), max(values)))
