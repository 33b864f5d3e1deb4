"""The recommendation tables as data, and their compilation to search spaces.

The tables are the product's heart: the ranges experienced practitioners tune in (shared design
§2). A model names the tables it draws from; a config may fix a value, narrow a range, restrict a
choice, lower every learning rate for fine-tuning, include the optional tables (tricks, schedule),
or add a hyperparameter of its own. The resolved :class:`SearchSpace` compiles to a native
HyperOpt space (conditionals as nested ``hp.choice``: the learning rate on the optimizer, the
schedule's parameters on the schedule; never ``tune.sample_from``), to Ray Tune domains, and to a
list of grid points.

One module per concept:

- :mod:`~raytune_hp.spaces.tables`: the recommendation tables as data;
- :mod:`~raytune_hp.spaces.space`: :class:`SearchSpace`, its dimensions and configurations;
- :mod:`~raytune_hp.spaces.resolve`: a config's overrides applied to the tables;
- :mod:`~raytune_hp.spaces.compile`: the space as HyperOpt and Ray Tune spaces, and samples;
- :mod:`~raytune_hp.spaces.grid`: the grid over a space, and how big a grid may be;
- :mod:`~raytune_hp.spaces.render`: the tables and spaces as text.

Example:
    >>> space = resolve_space("cnn", {"batch_size": {"low": 32, "high": 256}})
    >>> space["batch_size"].choices_or_range()
    (32, 256)
    >>> start_point(space)["lr"]
    0.001
"""

from __future__ import annotations

from raytune_hp.spaces.compile import sample, to_hyperopt, to_hyperopt_point, to_tune
from raytune_hp.spaces.grid import MAX_GRID_DIMENSIONS, grid, grid_size, grid_values, oversized_grid
from raytune_hp.spaces.render import format_space, format_tables, outside_notes
from raytune_hp.spaces.resolve import BAYES_DEFAULTS, RESERVED_KEYS, resolve_space
from raytune_hp.spaces.space import (
    Dimension,
    SearchSpace,
    contains,
    flatten,
    ordered,
    start_point,
)
from raytune_hp.spaces.tables import (
    DEFAULT_CUSTOM_TABLES,
    FINE_TUNE_FACTOR,
    KINDS,
    LR,
    LR_TABLE,
    OPTIMIZER,
    OPTIMIZERS,
    OUTSIDE,
    SCHEDULES,
    TABLES,
    Kind,
    OptimizerRow,
    Row,
    Table,
    table_names,
)
from raytune_hp.values import powers_of_two  # importers have long taken it from here

__all__ = [
    "BAYES_DEFAULTS",
    "DEFAULT_CUSTOM_TABLES",
    "FINE_TUNE_FACTOR",
    "KINDS",
    "LR",
    "LR_TABLE",
    "MAX_GRID_DIMENSIONS",
    "OPTIMIZER",
    "OPTIMIZERS",
    "OUTSIDE",
    "RESERVED_KEYS",
    "SCHEDULES",
    "TABLES",
    "Dimension",
    "Kind",
    "OptimizerRow",
    "Row",
    "SearchSpace",
    "Table",
    "contains",
    "flatten",
    "format_space",
    "format_tables",
    "grid",
    "grid_size",
    "grid_values",
    "ordered",
    "outside_notes",
    "oversized_grid",
    "powers_of_two",
    "resolve_space",
    "sample",
    "start_point",
    "table_names",
    "to_hyperopt",
    "to_hyperopt_point",
    "to_tune",
]
