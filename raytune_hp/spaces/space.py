"""The search space: what a config's overrides leave of its tables, and the configurations in it.

A :class:`SearchSpace` is a model's table rows after a config's overrides (applied by
:func:`raytune_hp.spaces.resolve_space`), each a :class:`Dimension`: fixed, a range, or a list of
choices. A dimension with ``when`` exists only under some values of its parent: the learning rate
under each optimizer, a schedule's parameters under the schedules that use them. A configuration
is a flat dict of values: :func:`start_point` is where practitioners start, :func:`contains` says
whether a configuration is one of the space's.

Example:
    >>> from raytune_hp.spaces import resolve_space
    >>> space = resolve_space("cnn", {"optimizer": ["adam", "sgd"], "batch_size": 64})
    >>> space.tuned
    ('optimizer', 'lr', 'kernel_size', 'num_kernels', 'num_layers', 'dropout', 'weight_decay')
    >>> point = start_point(space)
    >>> point["optimizer"], point["lr"], point["batch_size"], contains(space, point)
    ('adam', 0.001, 64, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from raytune_hp.spaces.priors import Bounds, NumericPrior, Prior, PriorShape
from raytune_hp.spaces.tables import FINE_TUNE_FACTOR, LR, OPTIMIZER, OPTIMIZERS, Kind, Row
from raytune_hp.values import is_number, is_pow2, plain


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of a resolved space: a table row after the config's overrides.

    A fixed dimension has ``value`` set and is not tuned. ``lr_ranges`` is set only on the
    learning rate: the range for each optimizer the space allows. ``outside`` marks an override
    that leaves the table's range (allowed only when the config says ``outside_table: true``);
    ``kind_changed`` a table row whose kind (or scale) the config changed by saying ``kind``;
    ``custom`` a hyperparameter the config added. ``priors`` holds the prior under each value
    of the parent (the lr under each optimizer) or under ``None``; none: a uniform prior over
    the range. ``widened`` marks a row whose hard range ``bounds: wide`` widened.
    """

    row: Row
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None
    fixed: bool = False
    lr_ranges: tuple[tuple[str, float, float], ...] = ()
    outside: bool = False
    custom: bool = False
    kind_changed: bool = False
    priors: tuple[tuple[Any, Prior], ...] = ()
    widened: bool = False

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def kind(self) -> Kind:
        return self.row.kind

    @property
    def when(self) -> tuple[str, tuple[Any, ...]] | None:
        return self.row.when

    @property
    def log_scale(self) -> bool:
        """Whether values are drawn, gridded and narrowed on a log scale: kind ``log``, powers
        of two, and integers with ``log: true``.

        Example:
            >>> from raytune_hp.spaces import resolve_space
            >>> space = resolve_space("mlp", {"width": {"kind": "int", "low": 8, "high": 512,
            ...                                         "log": True}})
            >>> [dim.name for dim in space.dims if dim.log_scale]
            ['lr', 'batch_size', 'hidden_size', 'width']
        """
        return self.kind in ("log", "pow2") or self.row.log

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)`` of a numeric dimension."""
        if self.low is None or self.high is None:
            raise TypeError(f"{self.name} is not a numeric range")
        return self.low, self.high

    def choices_or_range(self) -> tuple[Any, ...]:
        """The values this dimension can take: ``(value,)``, its choices, or ``(low, high)``."""
        if self.fixed:
            return (self.value,)
        if self.kind == "choice":
            return self.choices
        return (plain(self.low), plain(self.high))

    def prior_for(self, parent_value: Any = None) -> Prior | None:
        """The prior under one value of the parent (the lr under one optimizer), if any."""
        for value, prior in self.priors:
            if value == parent_value:
                return prior
        return None

    def range_for(self, parent_value: Any) -> tuple[float, float]:
        """The numeric range under one value of the parent (the lr under one optimizer)."""
        for name, low, high in self.lr_ranges:
            if name == parent_value:
                return low, high
        return self.bounds


@dataclass(frozen=True)
class SearchSpace:
    """A model's search space: its tables' rows with a config's overrides applied, within the
    hard ranges ``bounds`` says (``table`` or ``wide``), searched under the ``prior`` it says
    (``tables``: centred on the recommendations; ``uniform``: flat)."""

    model: str
    dims: tuple[Dimension, ...] = ()
    fine_tune: bool = False
    bounds: Bounds = "table"
    prior: PriorShape = "uniform"

    def __getitem__(self, name: str) -> Dimension:
        for dim in self.dims:
            if dim.name == name:
                return dim
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(dim.name == name for dim in self.dims)

    @property
    def tuned(self) -> tuple[str, ...]:
        """Names of the hyperparameters that are searched (not fixed)."""
        return tuple(d.name for d in self.dims if not d.fixed)

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The learning-rate range this space allows for ``optimizer``."""
        return self[LR].range_for(optimizer)

    def top_level(self) -> Iterator[Dimension]:
        """Dimensions that are not conditional on another."""
        return (dim for dim in self.dims if dim.when is None)

    def children(self, parent: str) -> tuple[Dimension, ...]:
        """Dimensions that exist only for some values of ``parent``."""
        return tuple(dim for dim in self.dims if dim.when and dim.when[0] == parent)

    def branches(
        self, parent: Dimension, values: Iterable[Any] | None = None
    ) -> list[tuple[Any, tuple[Dimension, ...]]]:
        """Each value of ``parent`` with the children that exist under it, in the space's order.

        The one walk over conditional dimensions: compiling the space, its grid and HyperOpt's
        points all take it. ``values`` defaults to every value ``parent`` can take; a dimension
        without children has ``()`` under each value.

        Example:
            >>> from raytune_hp.spaces import resolve_space
            >>> schedules = {"include": ["schedule"], "schedule": ["step", "bert"]}
            >>> space = resolve_space("cnn", schedules)
            >>> for value, children in space.branches(space["schedule"]):
            ...     print(value, [child.name for child in children])
            step []
            bert ['warmup_steps', 'power', 'end_lr']
        """
        children = self.children(parent.name)
        return [
            (value, tuple(c for c in children if c.when is not None and value in c.when[1]))
            for value in (parent.choices_or_range() if values is None else values)
        ]

    def active(self, config: Mapping[str, Any]) -> tuple[Dimension, ...]:
        """The dimensions a configuration has: conditional ones only under their parent's value."""
        return tuple(
            dim for dim in self.dims if dim.when is None or config.get(dim.when[0]) in dim.when[1]
        )


def start_point(space: SearchSpace, tables_lr: bool = False) -> dict[str, Any]:
    """The recommended starting configuration: each table's *start from*, clipped into the space.

    The learning rate starts at the low end of the starting optimizer's range, or, where the
    tables are priors or the ranges wide, in the middle of the optimizer's table range on the
    log scale (its prior's most likely value), so that the first trial does not sit on a
    range's edge; ``tables_lr``: at the low end whatever the space (the tables' own start,
    where the checks a practitioner does by hand begin). A hyperparameter whose prior's centre
    the config names starts there.
    """
    point: dict[str, Any] = {}
    for dim in space.dims:
        if dim.name == LR:
            prior = dim.prior_for(point[OPTIMIZER])
            if dim.fixed:
                point[LR] = dim.value
            elif tables_lr and dim.widened:
                divisor = round(1 / FINE_TUNE_FACTOR) if space.fine_tune else 1
                point[LR] = OPTIMIZERS[point[OPTIMIZER]].low / divisor
            elif tables_lr:
                point[LR] = space.lr_range(point[OPTIMIZER])[0]
            elif isinstance(prior, NumericPrior):
                point[LR] = prior.mode
            elif dim.widened:  # the table range's middle (widening keeps it)
                point[LR] = math.sqrt(math.prod(space.lr_range(point[OPTIMIZER])))
            else:
                point[LR] = space.lr_range(point[OPTIMIZER])[0]
        elif dim.when is None or point.get(dim.when[0]) in dim.when[1]:
            point[dim.name] = _start_value(dim)
    return point


def _start_value(dim: Dimension) -> Any:
    if dim.fixed:
        return dim.value
    prior = dim.prior_for(None)
    start = prior.mode if isinstance(prior, NumericPrior) and prior.named else dim.row.start
    if dim.kind == "choice":
        return start if start in dim.choices else dim.choices[0]
    low, high = dim.bounds
    clipped = min(max(start, low), high)
    if dim.kind == "pow2":
        # An int row made pow2 by the config starts at the power of two nearest its start.
        return int(2 ** round(math.log2(clipped)))
    return round(clipped) if dim.kind == "int" else float(clipped)


def contains(space: SearchSpace, config: Mapping[str, Any]) -> bool:
    """Whether a flat configuration is one of the space's: exactly the active dimensions, each
    value inside its domain."""
    active = space.active(config)
    if set(config) != {dim.name for dim in active}:
        return False
    return all(_dim_contains(dim, config) for dim in active)


def _dim_contains(dim: Dimension, config: Mapping[str, Any]) -> bool:
    value: Any = config.get(dim.name)
    if dim.fixed:
        return bool(value == dim.value)
    if dim.kind == "choice":
        return value in dim.choices
    if not is_number(value) or (dim.kind == "pow2" and not is_pow2(value)):
        return False
    parent_value = config.get(dim.when[0]) if dim.when else None
    low, high = dim.range_for(parent_value)
    return bool(low <= value <= high)


def ordered(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with keys in the space's order (tables' order), unknown keys last."""
    order = [d.name for d in space.dims]
    known = {k: config[k] for k in order if k in config}
    return known | {k: v for k, v in config.items() if k not in known}


def flatten(config: Mapping[str, Any]) -> dict[str, Any]:
    """Lifts conditional branches into one level and turns numpy scalars into Python ones.

    ``{"optimizer": {"optimizer": "adam", "lr": 0.003}, "dropout": 0.1}`` becomes
    ``{"optimizer": "adam", "lr": 0.003, "dropout": 0.1}``. Flat configs pass through unchanged.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value))
        else:
            flat[key] = plain(value)
    return flat
