"""The recommendation tables as data, and their compilation to search spaces.

The tables are the product's heart: the ranges experienced practitioners tune in (shared design
§2). A model names the tables it draws from; a config may fix a value, narrow a range or restrict a
choice. The resolved :class:`SearchSpace` compiles to a native HyperOpt space (the learning rate a
true conditional on the optimizer, nested ``hp.choice``, never ``tune.sample_from``) and to Ray
Tune domains, and serializes to plain dicts.

Example:
    >>> space = resolve_space("cnn", {"batch_size": {"low": 32, "high": 256}})
    >>> space["batch_size"].choices_or_range()
    (32, 256)
    >>> start_point(space)["lr"]
    0.001
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from raytune_hp.errors import SearchSpaceError

Kind = Literal["log", "float", "int", "pow2", "choice"]


@dataclass(frozen=True)
class OptimizerRow:
    """One row of the learning-rate table: an optimizer and its recommended lr range."""

    name: str
    label: str
    low: float
    high: float
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One hyperparameter of a recommendation table.

    ``low``/``high`` bound numeric kinds; ``choices`` lists categorical ones. ``start`` is where
    practitioners start; ``how`` says how finely to tune it.
    """

    name: str
    kind: Kind
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    start: Any = None
    how: str = ""
    note: str = ""

    def choices_or_range(self) -> tuple[Any, ...]:
        """The row's domain: its choices, or ``(low, high)`` for a range."""
        if self.kind == "choice":
            return self.choices
        return (self.low, self.high)


LR_TABLE: tuple[OptimizerRow, ...] = (
    OptimizerRow("sgd", "SGD", 1e-2, 1e-1),
    OptimizerRow("momentum", "Momentum (SGD, momentum 0.9)", 1e-3, 1e-2),
    OptimizerRow("adagrad", "Adagrad", 1e-3, 1e-2),
    OptimizerRow("adadelta", "Adadelta", 1e-2, 1e-1),
    OptimizerRow("rmsprop", "RMSprop", 1e-3, 1e-2),
    OptimizerRow("adam", "Adam", 1e-3, 1e-2, "betas (0.9, 0.999), eps 1e-8 kept at defaults"),
    OptimizerRow("nadam", "Nadam", 1e-3, 1e-2),
    OptimizerRow("adamw", "AdamW", 1e-4, 1e-2, "filled: Loshchilov & Hutter 2019"),
)
OPTIMIZERS: dict[str, OptimizerRow] = {row.name: row for row in LR_TABLE}
LR = "lr"
OPTIMIZER = "optimizer"

OPTIMIZATION_TABLE: tuple[Row, ...] = (
    Row(
        OPTIMIZER,
        "choice",
        choices=tuple(OPTIMIZERS),
        start="adam",
        how="by the problem",
        note="optimizer's own parameters at library defaults",
    ),
    Row(
        LR,
        "log",
        start="low end of the optimizer's range",
        how="finely, log scale",
        note="range depends on the optimizer (table lr); smoke test at 1e-4 then 1e-3",
    ),
    Row(
        "batch_size",
        "pow2",
        1,
        1024,
        start=128,
        how="finely",
        note="powers of two; with BatchNorm not too small",
    ),
    Row("dropout", "float", 0.0, 0.5, start=0.5, how="finely"),
    Row("weight_decay", "float", 0.0, 1e-4, start=0.0, how="coarsely", note="L2"),
)

CNN_TABLE: tuple[Row, ...] = (
    Row("kernel_size", "choice", choices=(1, 3, 5, 7), start=3, how="coarsely", note="odd"),
    Row("num_kernels", "int", 100, 600, start=100, how="coarsely", note="kernels per layer"),
    Row(
        "num_layers",
        "int",
        1,
        4,
        start=1,
        how="coarsely",
        note="filled; start with the simplest model",
    ),
)

TABLES: dict[str, tuple[Row, ...]] = {"optimization": OPTIMIZATION_TABLE, "cnn": CNN_TABLE}
MODEL_TABLES: dict[str, tuple[str, ...]] = {"cnn": ("optimization", "cnn")}


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter of a resolved space: a table row after the config's overrides.

    A fixed dimension has ``value`` set and is not tuned. ``lr_ranges`` is set only on the
    learning rate: the (possibly narrowed) range for each optimizer the space allows.
    """

    row: Row
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None
    fixed: bool = False
    lr_ranges: tuple[tuple[str, float, float], ...] = ()

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def kind(self) -> Kind:
        return self.row.kind

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
        return (_plain(self.low), _plain(self.high))


@dataclass(frozen=True)
class SearchSpace:
    """A model's search space: its tables' rows with a config's overrides applied."""

    model: str
    dims: tuple[Dimension, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> Dimension:
        for dim in self.dims:
            if dim.name == name:
                return dim
        raise KeyError(name)

    @property
    def tuned(self) -> tuple[str, ...]:
        """Names of the hyperparameters that are searched (not fixed)."""
        return tuple(d.name for d in self.dims if not d.fixed)

    def lr_range(self, optimizer: str) -> tuple[float, float]:
        """The learning-rate range this space allows for ``optimizer``."""
        for name, low, high in self[LR].lr_ranges:
            if name == optimizer:
                return low, high
        raise KeyError(optimizer)


def table_rows(model: str) -> tuple[Row, ...]:
    """Every row of the tables ``model`` draws from, in table order."""
    if model not in MODEL_TABLES:
        raise SearchSpaceError(f"model must be one of {', '.join(MODEL_TABLES)}; got {model!r}")
    return tuple(row for table in MODEL_TABLES[model] for row in TABLES[table])


def resolve_space(model: str, overrides: Mapping[str, Any] | None = None) -> SearchSpace:
    """Applies a config's ``space`` overrides to the tables of ``model``.

    An override is a value (fix it), ``{low, high}`` (narrow a range) or a list (restrict a
    choice). Overrides must stay inside the table's range.

    Raises:
        SearchSpaceError: an unknown key, or an override outside the table.
    """
    overrides = dict(overrides or {})
    rows = table_rows(model)
    known = {row.name for row in rows}
    for key in overrides:
        if key not in known:
            raise SearchSpaceError(
                f"space.{key} must be one of the {model} space's hyperparameters "
                f"({', '.join(sorted(known))}); got {key!r}"
            )
    dims = [_resolve_row(row, overrides.get(row.name)) for row in rows if row.name != LR]
    optimizer = next(d for d in dims if d.name == OPTIMIZER)
    allowed = optimizer.choices_or_range()
    lr_row = next(row for row in rows if row.name == LR)
    dims.insert(1, _resolve_lr(lr_row, allowed, overrides.get(LR)))
    return SearchSpace(model=model, dims=tuple(dims))


def _resolve_row(row: Row, override: Any) -> Dimension:
    key = f"space.{row.name}"
    if override is None:
        return Dimension(row, low=row.low, high=row.high, choices=row.choices)
    if isinstance(override, Mapping):
        return _narrow(row, key, override)
    if isinstance(override, Sequence) and not isinstance(override, str):
        return _restrict(row, key, list(override))
    _check_value(row, key, override)
    return Dimension(row, value=override, fixed=True)


def _domain_text(row: Row) -> str:
    if row.kind == "choice":
        return f"one of {list(row.choices)}"
    if row.kind == "pow2":
        return f"a power of two in [{_fmt(row.low)}, {_fmt(row.high)}]"
    if row.kind == "int":
        return f"an integer in [{_fmt(row.low)}, {_fmt(row.high)}]"
    return f"a number in [{_fmt(row.low)}, {_fmt(row.high)}]"


def _check_value(row: Row, key: str, value: Any) -> None:
    if row.kind == "choice":
        # 3.0 == 3 and True == 1: a choice must match in type too, or 3.0 reaches the model.
        if not any(type(value) is type(c) and value == c for c in row.choices):
            raise SearchSpaceError(f"{key} must be {_domain_text(row)}; got {value!r}")
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    integral = numeric and isinstance(value, int)  # 64.0 would reach the DataLoader as a float
    assert row.low is not None and row.high is not None
    ok = numeric and row.low <= value <= row.high
    if row.kind in ("int", "pow2"):
        ok = ok and integral
    if row.kind == "pow2":
        ok = ok and _is_pow2(int(value))
    if not ok:
        raise SearchSpaceError(f"{key} must be {_domain_text(row)}; got {value!r}")


def _narrow(row: Row, key: str, override: Mapping[str, Any]) -> Dimension:
    if row.kind == "choice":
        raise SearchSpaceError(
            f"{key} is a choice: give a value or a list of {list(row.choices)}; "
            f"got {dict(override)}"
        )
    if set(override) != {"low", "high"}:
        raise SearchSpaceError(
            f"{key} as a range must have exactly the keys low and high; got {dict(override)}"
        )
    low, high = override["low"], override["high"]
    _check_value(row, f"{key}.low", low)
    _check_value(row, f"{key}.high", high)
    if low > high:
        raise SearchSpaceError(f"{key}.low must be ≤ {key}.high; got low={low}, high={high}")
    if low == high:
        return Dimension(row, value=low, fixed=True)
    return Dimension(row, low=low, high=high)


def _restrict(row: Row, key: str, values: list[Any]) -> Dimension:
    if row.kind not in ("choice", "pow2", "int"):
        raise SearchSpaceError(
            f"{key} is a continuous range: give a value or {{low, high}}; got {values}"
        )
    if not values:
        raise SearchSpaceError(f"{key} must list at least one value; got []")
    for value in values:
        _check_value(row, key, value)
    if len(values) != len(set(values)):
        raise SearchSpaceError(f"{key} must list each value once; got {values}")
    if len(values) == 1:
        return Dimension(row, value=values[0], fixed=True)
    return Dimension(replace(row, kind="choice"), choices=tuple(values))


def _resolve_lr(row: Row, optimizers: Sequence[str], override: Any) -> Dimension:
    key = f"space.{LR}"
    table = [(name, OPTIMIZERS[name].low, OPTIMIZERS[name].high) for name in optimizers]
    if override is None:
        return Dimension(row, lr_ranges=tuple(table))
    if isinstance(override, Mapping):
        if set(override) != {"low", "high"}:
            raise SearchSpaceError(
                f"{key} as a range must have exactly the keys low and high; got {dict(override)}"
            )
        low, high = override["low"], override["high"]
        if not all(_is_positive_number(v) for v in (low, high)) or low >= high:
            raise SearchSpaceError(
                f"{key} must be a range with 0 < low < high; got low={low!r}, high={high!r}"
            )
        narrowed = []
        for name, t_low, t_high in table:
            if low > t_high or high < t_low:
                raise SearchSpaceError(
                    f"{key} must overlap the range of every optimizer in the space; "
                    f"[{_fmt(low)}, {_fmt(high)}] misses {name}'s [{_fmt(t_low)}, {_fmt(t_high)}]"
                    f" (restrict space.optimizer)"
                )
            narrowed.append((name, max(low, t_low), min(high, t_high)))
        return Dimension(row, lr_ranges=tuple(narrowed))
    for name, t_low, t_high in table:
        if not _is_positive_number(override) or not t_low <= override <= t_high:
            raise SearchSpaceError(
                f"{key} must lie in the range of every optimizer in the space "
                f"({name}: [{_fmt(t_low)}, {_fmt(t_high)}]); got {override!r}"
            )
    return Dimension(row, value=override, fixed=True, lr_ranges=tuple(table))


def start_point(space: SearchSpace) -> dict[str, Any]:
    """The recommended starting configuration: each table's *start from*, clipped into the space.

    The learning rate starts at the low end of the starting optimizer's range.
    """
    point: dict[str, Any] = {}
    for dim in space.dims:
        if dim.name == LR:
            continue
        point[dim.name] = _start_value(dim)
    lr = space[LR]
    point[LR] = lr.value if lr.fixed else space.lr_range(point[OPTIMIZER])[0]
    return _ordered(space, point)


def _start_value(dim: Dimension) -> Any:
    if dim.fixed:
        return dim.value
    start = dim.row.start
    if dim.kind == "choice":
        return start if start in dim.choices else dim.choices[0]
    assert dim.low is not None and dim.high is not None
    clipped = min(max(start, dim.low), dim.high)
    return int(clipped) if dim.kind in ("int", "pow2") else float(clipped)


def to_hyperopt(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to a native HyperOpt space.

    The learning rate lives inside an ``hp.choice`` over the optimizers (label ``lr_<optimizer>``),
    so TPE models it per optimizer. Powers of two are sampled as integer exponents, so TPE sees
    their order. The sampled dict is nested; :func:`flatten` makes it one level.
    """
    from hyperopt import hp

    compiled: dict[str, Any] = {}
    for dim in space.dims:
        if dim.name == LR:
            continue
        if dim.fixed:
            compiled[dim.name] = dim.value
        elif dim.kind == "log":
            low, high = dim.bounds
            compiled[dim.name] = hp.loguniform(dim.name, math.log(low), math.log(high))
        elif dim.kind == "float":
            compiled[dim.name] = hp.uniform(dim.name, *dim.bounds)
        elif dim.kind == "int":
            compiled[dim.name] = hp.uniformint(dim.name, *dim.bounds)
        elif dim.kind == "pow2":
            exponents = [int(math.log2(bound)) for bound in dim.bounds]
            compiled[dim.name] = 2 ** hp.uniformint(_exponent_label(dim.name), *exponents)
        else:
            compiled[dim.name] = hp.choice(dim.name, list(dim.choices))
    lr = space[LR]
    branches = []
    for name, low, high in lr.lr_ranges:
        value = (
            lr.value if lr.fixed else hp.loguniform(_lr_label(name), math.log(low), math.log(high))
        )
        branches.append({OPTIMIZER: name, LR: value})
    if space[OPTIMIZER].fixed:
        compiled[OPTIMIZER] = branches[0]
    else:
        compiled[OPTIMIZER] = hp.choice(OPTIMIZER, branches)
    return compiled


def to_hyperopt_point(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """A flat configuration in HyperOpt's own terms: labels as keys, choices as indices.

    This is the form HyperOpt's ``generate_trials_to_calculate`` needs; handing Ray nested
    ``points_to_evaluate`` breaks it (ray-project/ray #28753, #37582).
    """
    point: dict[str, Any] = {}
    for dim in space.dims:
        if dim.fixed or dim.name == LR:
            continue
        value = config[dim.name]
        if dim.kind == "choice":
            point[dim.name] = list(dim.choices).index(value)
        elif dim.kind == "pow2":
            point[_exponent_label(dim.name)] = int(math.log2(value))
        else:
            point[dim.name] = value
    if not space[LR].fixed:
        point[_lr_label(config[OPTIMIZER])] = config[LR]
    return point


def to_tune(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to Ray Tune domains (for random search with Ray's own generator).

    The conditional learning rate is a ``tune.choice`` of per-optimizer dicts, which Ray resolves
    natively; :func:`flatten` makes sampled configs one level.
    """
    from ray import tune

    compiled: dict[str, Any] = {}
    for dim in space.dims:
        if dim.name == LR:
            continue
        if dim.fixed:
            compiled[dim.name] = dim.value
        elif dim.kind == "log":
            compiled[dim.name] = tune.loguniform(*dim.bounds)
        elif dim.kind == "float":
            compiled[dim.name] = tune.uniform(*dim.bounds)
        elif dim.kind == "int":
            compiled[dim.name] = tune.randint(int(dim.bounds[0]), int(dim.bounds[1]) + 1)
        elif dim.kind == "pow2":
            compiled[dim.name] = tune.choice(powers_of_two(*dim.bounds))
        else:
            compiled[dim.name] = tune.choice(list(dim.choices))
    lr = space[LR]
    branches = [
        {OPTIMIZER: name, LR: lr.value if lr.fixed else tune.loguniform(low, high)}
        for name, low, high in lr.lr_ranges
    ]
    compiled[OPTIMIZER] = branches[0] if space[OPTIMIZER].fixed else tune.choice(branches)
    return compiled


def flatten(config: Mapping[str, Any]) -> dict[str, Any]:
    """Lifts the conditional branch into one level and turns numpy scalars into Python ones.

    ``{"optimizer": {"optimizer": "adam", "lr": 0.003}, "dropout": 0.1}`` becomes
    ``{"optimizer": "adam", "lr": 0.003, "dropout": 0.1}``. Flat configs pass through unchanged.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value))
        else:
            flat[key] = _plain(value)
    return flat


def sample(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """Draws ``n`` flat configurations from the space's HyperOpt form, reproducibly."""
    import numpy as np
    from hyperopt.pyll import stochastic

    rng = np.random.default_rng(seed)
    compiled = to_hyperopt(space)
    return [_ordered(space, flatten(stochastic.sample(compiled, rng=rng))) for _ in range(n)]


def contains(space: SearchSpace, config: Mapping[str, Any]) -> bool:
    """Whether a flat configuration lies inside the space (every value in its domain)."""
    return all(_dim_contains(space, dim, config) for dim in space.dims)


def _dim_contains(space: SearchSpace, dim: Dimension, config: Mapping[str, Any]) -> bool:
    value = config.get(dim.name)
    if dim.fixed:
        return bool(value == dim.value)
    if dim.kind == "choice":
        return value in dim.choices
    low, high = space.lr_range(config[OPTIMIZER]) if dim.name == LR else dim.bounds
    if not isinstance(value, (int, float)) or (dim.kind == "pow2" and not _is_pow2(value)):
        return False
    return low <= value <= high


def format_tables(names: Sequence[str] | None = None) -> str:
    """The recommendation tables as Markdown, for ``raytune-hp spaces``."""
    names = list(names or ["lr", *TABLES])
    valid = ["lr", *TABLES]
    for name in names:
        if name not in valid:
            raise SearchSpaceError(f"TABLE must be one of {', '.join(valid)}; got {name!r}")
    parts = []
    for name in names:
        if name == "lr":
            lines = [
                "## Learning rate by optimizer (log-uniform; fine-tuning: ×0.01)",
                "",
                "| optimizer | name in configs | lr range | notes |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| {r.label} | `{r.name}` | [{_fmt(r.low)}, {_fmt(r.high)}] | {r.note} |"
                for r in LR_TABLE
            ]
        else:
            lines = [
                f"## {name.upper() if name == 'cnn' else name.capitalize()}",
                "",
                "| hyperparameter | range | start from | how to tune | notes |",
                "|---|---|---|---|---|",
            ]
            for r in TABLES[name]:
                domain = "table lr" if r.name == LR else _domain_text(r)
                lines.append(f"| `{r.name}` | {domain} | {r.start} | {r.how} | {r.note} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _ordered(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    order = [d.name for d in space.dims]
    return {k: config[k] for k in order if k in config} | {
        k: v for k, v in config.items() if k not in order
    }


def _lr_label(optimizer: str) -> str:
    return f"{LR}_{optimizer}"


def _exponent_label(name: str) -> str:
    return f"log2_{name}"


def powers_of_two(low: float, high: float) -> list[int]:
    """The powers of two in ``[low, high]``."""
    return [2**e for e in range(int(math.log2(low)), int(math.log2(high)) + 1)]


def _is_pow2(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value > 0
        and (value & (value - 1) == 0)
    )


def _is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _plain(value: Any) -> Any:
    """numpy scalars become Python scalars (TensorBoard's HParams drops numpy types)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _fmt(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"
