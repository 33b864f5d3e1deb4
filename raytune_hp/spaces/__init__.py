"""The recommendation tables as data, and their compilation to search spaces.

The tables are the product's heart: the ranges experienced practitioners tune in (shared design
§2). A model names the tables it draws from; a config may fix a value, narrow a range, restrict a
choice, lower every learning rate for fine-tuning, include the optional tables (tricks, schedule),
or add a hyperparameter of its own. The resolved :class:`SearchSpace` compiles to a native
HyperOpt space (conditionals as nested ``hp.choice``: the learning rate on the optimizer, the
schedule's parameters on the schedule; never ``tune.sample_from``), to Ray Tune domains, and to a
list of grid points.

Example:
    >>> space = resolve_space("cnn", {"batch_size": {"low": 32, "high": 256}})
    >>> space["batch_size"].choices_or_range()
    (32, 256)
    >>> start_point(space)["lr"]
    0.001
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from raytune_hp.errors import SearchSpaceError
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
    MODEL_TABLES,
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
from raytune_hp.values import is_number, is_positive, is_pow2, powers_of_two

__all__ = [
    "DEFAULT_CUSTOM_TABLES",
    "FINE_TUNE_FACTOR",
    "KINDS",
    "LR",
    "LR_TABLE",
    "MODEL_TABLES",
    "OPTIMIZER",
    "OPTIMIZERS",
    "OUTSIDE",
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
    "powers_of_two",
    "resolve_space",
    "sample",
    "start_point",
    "table_names",
    "to_hyperopt",
    "to_hyperopt_point",
    "to_tune",
]


def resolve_space(
    model: str, overrides: Mapping[str, Any] | None = None, tables: Sequence[str] | None = None
) -> SearchSpace:
    """Applies a config's ``space`` section to the tables of ``model`` (or to ``tables``).

    Per hyperparameter: a value fixes it, ``{low, high}`` narrows a range, a list (or
    ``{choices: [...]}``) restricts a choice, ``{value: ...}`` fixes; any of the mapping forms may
    add ``outside_table: true`` to leave the table's range on purpose. A name the tables lack is
    the config's own hyperparameter when it says its ``kind``. The reserved keys ``fine_tune``
    (lower every lr range 100×) and ``include`` (optional tables) shape the whole space.

    Raises:
        SearchSpaceError: an unknown key, an override outside the table, a broken constraint.
    """
    overrides = dict(overrides or {})
    fine_tune = overrides.pop("fine_tune", False)
    if not isinstance(fine_tune, bool):
        raise SearchSpaceError(f"space.fine_tune must be true or false; got {fine_tune!r}")
    names = list(tables) if tables is not None else list(table_names(model))
    for name in _included(overrides.pop("include", [])):
        if name not in names:
            names.append(name)
    rows = _merged_rows(names)
    known = {row.name for row in rows}
    for key, spec in overrides.items():
        if key not in known:
            rows.append(_custom_row(key, spec, model, sorted(known)))
    dims: list[Dimension] = []
    for row in rows:
        override = overrides.get(row.name)
        if row.name == LR:
            optimizers = next(d for d in dims if d.name == OPTIMIZER).choices_or_range()
            dims.append(_resolve_lr(row, optimizers, override, fine_tune))
        elif row.name in known:
            dims.append(_resolve_row(row, override))
        else:
            dims.append(_resolve_custom(row))
    dims = _drop_inactive(dims, overrides)
    _check_constraints(dims)
    return SearchSpace(model=model, dims=tuple(dims), fine_tune=fine_tune)


def _included(include: Any) -> list[str]:
    optional = [t.name for t in TABLES.values() if t.optional]
    if not isinstance(include, list) or any(name not in optional for name in include):
        raise SearchSpaceError(
            f"space.include must be a list of the optional tables ({', '.join(optional)}); "
            f"got {include!r}"
        )
    return include


def _merged_rows(names: Sequence[str]) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        if name not in TABLES:
            raise SearchSpaceError(f"model.tables must name tables of {list(TABLES)}; got {name!r}")
        rows += [row for row in TABLES[name].rows if row.name not in {r.name for r in rows}]
    return rows


def _custom_row(name: str, spec: Any, model: str, known: list[str]) -> Row:
    key = f"space.{name}"
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise SearchSpaceError(
            f"{key} must be one of the {model} space's hyperparameters ({', '.join(known)}), or "
            "your own "
            f"with a kind ({', '.join(KINDS)}) and its range or choices; got {name!r}"
        )
    kind = spec["kind"]
    allowed = {"kind", "start", "choices"} if kind == "choice" else {"kind", "start", "low", "high"}
    if kind not in KINDS or set(spec) - allowed or not (set(allowed) - {"start"}) <= set(spec):
        raise SearchSpaceError(
            f"{key} as your own hyperparameter must have kind (one of {', '.join(KINDS)}) and "
            f"{'choices' if kind == 'choice' else 'low and high'} (start optional); "
            f"got {dict(spec)}"
        )
    if kind == "choice":
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{key}.choices must be a non-empty list; got {choices!r}")
        return Row(name, "choice", choices=tuple(choices), start=spec.get("start", choices[0]),
                   how="your own", note="added by the config")  # fmt: skip
    low, high = spec["low"], spec["high"]
    numeric = all(is_number(v) for v in (low, high))
    if not numeric or low >= high or (kind == "log" and low <= 0):
        rule = "0 < low < high" if kind == "log" else "low < high"
        raise SearchSpaceError(
            f"{key} must have numbers with {rule}; got low={low!r}, high={high!r}"
        )
    if kind in ("int", "pow2") and not all(isinstance(v, int) for v in (low, high)):
        raise SearchSpaceError(f"{key} must have integer bounds; got low={low!r}, high={high!r}")
    if kind == "pow2" and not (is_pow2(low) and is_pow2(high)):
        raise SearchSpaceError(f"{key} must have powers of two as bounds; got {low}, {high}")
    start = spec.get("start", low)
    return Row(name, kind, low, high, start=start, how="your own", note="added by the config")


def _resolve_custom(row: Row) -> Dimension:
    if row.kind == "choice" and len(row.choices) == 1:
        return Dimension(row, value=row.choices[0], fixed=True, custom=True)
    return Dimension(row, low=row.low, high=row.high, choices=row.choices, custom=True)


def _resolve_row(row: Row, override: Any) -> Dimension:
    key = f"space.{row.name}"
    if override is None:
        return Dimension(row, low=row.low, high=row.high, choices=row.choices)
    if isinstance(override, Mapping):
        spec = dict(override)
        outside = spec.pop(OUTSIDE, False)
        if not isinstance(outside, bool):
            raise SearchSpaceError(f"{key}.{OUTSIDE} must be true or false; got {outside!r}")
        if set(spec) == {"value"}:
            _check_value(row, key, spec["value"], outside)
            return Dimension(row, value=spec["value"], fixed=True, outside=_leaves(row, spec))
        if set(spec) == {"choices"}:
            return _restrict(row, key, spec["choices"], outside)
        return _narrow(row, key, spec, outside)
    if isinstance(override, Sequence) and not isinstance(override, str):
        return _restrict(row, key, list(override), outside=False)
    _check_value(row, key, override, outside=False)
    return Dimension(row, value=override, fixed=True)


def _leaves(row: Row, spec: Mapping[str, Any]) -> bool:
    """Whether an (already validated) override reaches beyond the table's own domain."""
    values = [spec[k] for k in ("value", "low", "high") if k in spec] + list(
        spec.get("choices", [])
    )
    if row.kind == "choice":
        return any(v not in row.choices for v in values)
    assert row.low is not None and row.high is not None
    return any(not row.low <= v <= row.high for v in values)


def _domain_text(row: Row) -> str:
    if row.kind == "choice":
        return f"one of {list(row.choices)}"
    if row.kind == "pow2":
        return f"a power of two in [{_fmt(row.low)}, {_fmt(row.high)}]"
    if row.kind == "int":
        return f"an integer in [{_fmt(row.low)}, {_fmt(row.high)}]"
    return f"a number in [{_fmt(row.low)}, {_fmt(row.high)}]"


def _check_value(row: Row, key: str, value: Any, outside: bool) -> None:
    """Type always; the table's range unless ``outside`` says the config leaves it on purpose."""
    hint = f" (or add {OUTSIDE}: true to leave the table on purpose)"
    if row.kind == "choice":
        types = {type(c) for c in row.choices}
        # 3.0 == 3 and True == 1: a choice must match in type too, or 3.0 reaches the model.
        inside = any(type(value) is type(c) and value == c for c in row.choices)
        if inside or (outside and type(value) in types):
            return
        raise SearchSpaceError(f"{key} must be {_domain_text(row)}{hint}; got {value!r}")
    integral = row.kind in ("int", "pow2")
    typed = is_number(value) and (isinstance(value, int) or not integral)
    typed = typed and (row.kind != "pow2" or is_pow2(value))
    typed = typed and (row.kind != "log" or value > 0)
    assert row.low is not None and row.high is not None
    if typed and (outside or row.low <= value <= row.high):
        return
    raise SearchSpaceError(
        f"{key} must be {_domain_text(row)}{hint if typed else ''}; got {value!r}"
    )


def _narrow(row: Row, key: str, spec: Mapping[str, Any], outside: bool) -> Dimension:
    if row.kind == "choice":
        raise SearchSpaceError(
            f"{key} is a choice: give a value or a list of {list(row.choices)}; got {dict(spec)}"
        )
    if set(spec) != {"low", "high"}:
        raise SearchSpaceError(
            f"{key} as a range must have the keys low and high ({OUTSIDE} optional); "
            f"got {dict(spec)}"
        )
    low, high = spec["low"], spec["high"]
    _check_value(row, f"{key}.low", low, outside)
    _check_value(row, f"{key}.high", high, outside)
    if low > high:
        raise SearchSpaceError(f"{key}.low must be ≤ {key}.high; got low={low}, high={high}")
    if low == high:
        return Dimension(row, value=low, fixed=True, outside=_leaves(row, spec))
    return Dimension(row, low=low, high=high, outside=_leaves(row, spec))


def _restrict(row: Row, key: str, values: Any, outside: bool) -> Dimension:
    if row.kind not in ("choice", "pow2", "int"):
        raise SearchSpaceError(
            f"{key} is a continuous range: give a value or {{low, high}}; got {values!r}"
        )
    if not isinstance(values, list) or not values:
        raise SearchSpaceError(f"{key} must list at least one value; got {values!r}")
    for value in values:
        _check_value(row, key, value, outside)
    if len(values) != len(set(values)):
        raise SearchSpaceError(f"{key} must list each value once; got {values}")
    leaves = _leaves(row, {"choices": values})
    if len(values) == 1:
        return Dimension(row, value=values[0], fixed=True, outside=leaves)
    return Dimension(replace(row, kind="choice"), choices=tuple(values), outside=leaves)


def _resolve_lr(row: Row, optimizers: Sequence[str], override: Any, fine_tune: bool) -> Dimension:
    key = f"space.{LR}"
    # Divide rather than multiply by 0.01: 1e-4 * 0.01 is 1.0000000000000002e-06, which would
    # refuse lr 1e-6 for a fine-tuned AdamW while the message says its range is [1e-06, ...].
    divisor = round(1 / FINE_TUNE_FACTOR) if fine_tune else 1
    table = [(n, OPTIMIZERS[n].low / divisor, OPTIMIZERS[n].high / divisor) for n in optimizers]
    row = replace(row, when=(OPTIMIZER, tuple(optimizers)))
    if override is None:
        return Dimension(row, lr_ranges=tuple(table))
    spec = dict(override) if isinstance(override, Mapping) else {"value": override}
    outside = spec.pop(OUTSIDE, False)
    if not isinstance(outside, bool):
        raise SearchSpaceError(f"{key}.{OUTSIDE} must be true or false; got {outside!r}")
    if set(spec) and set(spec) <= set(OPTIMIZERS):
        return _lr_per_optimizer(row, table, spec, outside)
    if set(spec) == {"value"}:
        value = spec["value"]
        if not is_positive(value):
            raise SearchSpaceError(f"{key} must be a number > 0; got {value!r}")
        misses = [(n, lo, hi) for n, lo, hi in table if not lo <= value <= hi]
        if misses and not outside:
            name, low, high = misses[0]
            raise SearchSpaceError(
                f"{key} must lie in the range of every optimizer in the space ({name}: "
                f"[{_fmt(low)}, {_fmt(high)}]; or add {OUTSIDE}: true); got {value!r}"
            )
        return Dimension(row, value=value, fixed=True, lr_ranges=tuple(table), outside=bool(misses))
    if set(spec) != {"low", "high"}:
        raise SearchSpaceError(
            f"{key} must be a value, {{low, high}} or {{<optimizer>: {{low, high}}}}; "
            f"got {dict(override) if isinstance(override, Mapping) else override!r}"
        )
    low, high = spec["low"], spec["high"]
    if not (is_positive(low) and is_positive(high)) or low >= high:
        raise SearchSpaceError(f"{key} must be a range with 0 < low < high; got {low!r}, {high!r}")
    if outside:
        leaves = any(low < lo or high > hi for _, lo, hi in table)
        return Dimension(row, lr_ranges=tuple((n, low, high) for n, _, _ in table), outside=leaves)
    narrowed = []
    for name, t_low, t_high in table:
        if low > t_high or high < t_low:
            raise SearchSpaceError(
                f"{key} must overlap the range of every optimizer in the space; "
                f"[{_fmt(low)}, {_fmt(high)}] misses {name}'s [{_fmt(t_low)}, {_fmt(t_high)}] "
                f"(restrict space.optimizer, or add {OUTSIDE}: true)"
            )
        narrowed.append((name, max(low, t_low), min(high, t_high)))
    return Dimension(row, lr_ranges=tuple(narrowed))


def _lr_per_optimizer(
    row: Row, table: list[tuple[str, float, float]], spec: Mapping[str, Any], outside: bool
) -> Dimension:
    ranges = []
    for name, t_low, t_high in table:
        given = spec.get(name)
        if given is None:
            ranges.append((name, t_low, t_high))
            continue
        key = f"space.{LR}.{name}"
        if not isinstance(given, Mapping) or set(given) != {"low", "high"}:
            raise SearchSpaceError(f"{key} must be {{low, high}}; got {given!r}")
        low, high = given["low"], given["high"]
        if not (is_positive(low) and is_positive(high)) or low > high:
            raise SearchSpaceError(f"{key} must have 0 < low ≤ high; got {low!r}, {high!r}")
        if not outside and (low < t_low or high > t_high):
            raise SearchSpaceError(
                f"{key} must lie in [{_fmt(t_low)}, {_fmt(t_high)}] (or add {OUTSIDE}: true); "
                f"got [{_fmt(low)}, {_fmt(high)}]"
            )
        ranges.append((name, low, high))
    unknown = set(spec) - {name for name, _, _ in table}
    if unknown:
        raise SearchSpaceError(
            f"space.{LR} must name only optimizers in the space "
            f"({', '.join(n for n, _, _ in table)}); got {sorted(unknown)}"
        )
    leaves = any(lo < t[1] or hi > t[2] for (_, lo, hi), t in zip(ranges, table, strict=True))
    return Dimension(row, lr_ranges=tuple(ranges), outside=leaves)


def _drop_inactive(dims: list[Dimension], overrides: Mapping[str, Any]) -> list[Dimension]:
    """Removes conditional dimensions whose parent can never take their values."""
    by_name = {dim.name: dim for dim in dims}
    kept = []
    for dim in dims:
        if dim.when is None or dim.name == LR:
            kept.append(dim)
            continue
        parent, values = dim.when
        possible = by_name[parent].choices_or_range() if parent in by_name else ()
        if any(value in values for value in possible):
            kept.append(dim)
        elif dim.name in overrides:
            raise SearchSpaceError(
                f"space.{dim.name} applies only when {parent} is one of {list(values)}; "
                f"got {parent} limited to {list(possible)}"
            )
    return kept


def _check_constraints(dims: Sequence[Dimension]) -> None:
    """Rules that span hyperparameters, checked over every combination the space allows."""
    by_name = {dim.name: dim for dim in dims}
    if "d_model" in by_name and "num_heads" in by_name:
        for d_model, heads in itertools.product(
            by_name["d_model"].choices_or_range(), by_name["num_heads"].choices_or_range()
        ):
            if d_model % heads:
                raise SearchSpaceError(
                    "space.num_heads must divide every d_model the space allows; "
                    f"got num_heads {heads} with d_model {d_model}"
                )


def to_hyperopt(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to a native HyperOpt space.

    A parent with conditional children becomes ``hp.choice`` over one dict per value holding the
    children that exist under it (labels ``<child>_<value>``: ``lr_adam``, ``warmup_steps_noam``),
    so TPE models them per branch. Powers of two are sampled as integer exponents, so TPE sees
    their order. The sampled dict is nested; :func:`flatten` makes it one level.
    """
    from hyperopt import hp

    def expr(dim: Dimension, label: str, parent_value: Any = None) -> Any:
        if dim.fixed:
            return dim.value
        if dim.kind == "choice":
            return hp.choice(label, list(dim.choices))
        low, high = dim.range_for(parent_value)
        if dim.kind == "log":
            return hp.loguniform(label, math.log(low), math.log(high))
        if dim.kind == "float":
            return hp.uniform(label, low, high)
        if dim.kind == "int":
            return hp.uniformint(label, low, high)
        exponents = [int(math.log2(bound)) for bound in (low, high)]
        return 2 ** hp.uniformint(_exponent_label(label), *exponents)

    return _compile(space, expr, lambda name, branches: hp.choice(name, branches))


def to_tune(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to Ray Tune domains (``tune.choice`` of per-value dicts for
    conditionals, which Ray resolves natively; :func:`flatten` makes samples one level)."""
    from ray import tune

    def expr(dim: Dimension, label: str, parent_value: Any = None) -> Any:
        if dim.fixed:
            return dim.value
        if dim.kind == "choice":
            return tune.choice(list(dim.choices))
        low, high = dim.range_for(parent_value)
        if dim.kind == "log":
            return tune.loguniform(low, high)
        if dim.kind == "float":
            return tune.uniform(low, high)
        if dim.kind == "int":
            return tune.randint(int(low), int(high) + 1)
        return tune.choice(powers_of_two(low, high))

    return _compile(space, expr, lambda name, branches: tune.choice(branches))


def grid(space: SearchSpace, points: int) -> list[dict[str, Any]]:
    """Every combination of the space's grid values, as flat configurations: ``points`` values
    per range (log-spaced on log ranges and powers of two) and every choice; the children of a
    conditional (the lr under each optimizer) get their own grid under each of its values."""
    axes: list[list[dict[str, Any]]] = []
    for dim in space.top_level():
        children = space.children(dim.name)
        axis = []
        for value in grid_values(dim, points):
            active = [c for c in children if c.when is not None and value in c.when[1]]
            names = [c.name for c in active]
            for combo in itertools.product(*(grid_values(c, points, value) for c in active)):
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
        children = space.children(dim.name)
        if not children:
            size *= len(grid_values(dim, points))
            continue
        branches = 0
        for value in dim.choices_or_range():
            active = [c for c in children if c.when is not None and value in c.when[1]]
            branches += math.prod(len(grid_values(c, points, value)) for c in active)
        size *= branches
    return size


def _spread(low: float, high: float, points: int) -> list[float]:
    if points == 1:
        return [low]
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def _compile(space: SearchSpace, expr: Any, choice: Any) -> dict[str, Any]:
    compiled: dict[str, Any] = {}
    for dim in space.top_level():
        children = space.children(dim.name)
        if not children:
            compiled[dim.name] = expr(dim, dim.name)
            continue
        branches = [
            {dim.name: value}
            | {
                c.name: expr(c, f"{c.name}_{value}", value)
                for c in children
                if value in c.when[1]  # type: ignore[index]
            }
            for value in dim.choices_or_range()
        ]
        compiled[dim.name] = branches[0] if dim.fixed else choice(dim.name, branches)
    return compiled


def to_hyperopt_point(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """A flat configuration in HyperOpt's own terms: labels as keys, choices as indices.

    This is the form HyperOpt's ``generate_trials_to_calculate`` needs; handing Ray nested
    ``points_to_evaluate`` breaks it (ray-project/ray #28753, #37582).
    """
    point: dict[str, Any] = {}

    def put(dim: Dimension, label: str) -> None:
        value = config[dim.name]
        if dim.fixed:
            return
        if dim.kind == "choice":
            point[label] = list(dim.choices).index(value)
        elif dim.kind == "pow2":
            point[_exponent_label(label)] = int(math.log2(value))
        else:
            point[label] = value

    for dim in space.top_level():
        put(dim, dim.name)
        for child in space.children(dim.name):
            if config[dim.name] in child.when[1]:  # type: ignore[index]
                put(child, f"{child.name}_{config[dim.name]}")
    return point


def sample(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """Draws ``n`` flat configurations from the space's HyperOpt form, reproducibly."""
    import numpy as np
    from hyperopt.pyll import stochastic

    rng = np.random.default_rng(seed)
    compiled = to_hyperopt(space)
    return [ordered(space, flatten(stochastic.sample(compiled, rng=rng))) for _ in range(n)]


def format_tables(names: Sequence[str] | None = None) -> str:
    """The recommendation tables as Markdown, for ``raytune-hp spaces``."""
    valid = ["lr", *TABLES]
    names = list(names or valid)
    for name in names:
        if name not in valid:
            raise SearchSpaceError(f"TABLE must be one of {', '.join(valid)}; got {name!r}")
    parts = []
    for name in names:
        if name == "lr":
            lines = [
                "## Learning rate by optimizer (always log-uniform)",
                "",
                "| optimizer | name in configs | lr range | fine-tuning (×0.01) | notes |",
                "|---|---|---|---|---|",
            ]
            for opt in LR_TABLE:
                table_range = f"[{_fmt(opt.low)}, {_fmt(opt.high)}]"
                fine = f"[{_fmt(opt.low * FINE_TUNE_FACTOR)}, {_fmt(opt.high * FINE_TUNE_FACTOR)}]"
                lines.append(
                    f"| {opt.label} | `{opt.name}` | {table_range} | {fine} | {opt.note} |"
                )
        else:
            table = TABLES[name]
            lines = [
                f"## {table.title}",
                "",
                "| hyperparameter | range | start from | how to tune | notes |",
                "|---|---|---|---|---|",
            ]
            for r in table.rows:
                domain = "table lr" if r.name == LR else _domain_text(r)
                if r.when and r.name != LR:
                    domain += f" (when {r.when[0]} is {' or '.join(map(str, r.when[1]))})"
                lines.append(f"| `{r.name}` | {domain} | {r.start} | {r.how} | {r.note} |")
        parts.append("\n".join(lines))
    models = "\n".join(f"- `{m}`: {', '.join(t)}" for m, t in MODEL_TABLES.items())
    parts.append(f"## Tables each model draws from\n\n{models}")
    return "\n\n".join(parts) + "\n"


def format_space(space: SearchSpace) -> str:
    """One config's resolved space as Markdown: what is searched, fixed, added or outside."""
    title = f"## Search space of the {space.model} model" + (
        " (fine-tuning)" if space.fine_tune else ""
    )
    lines = [title, "", "| hyperparameter | searched over | start | note |", "|---|---|---|---|"]
    start = start_point(space)
    for dim in space.dims:
        if dim.name == LR and not dim.fixed:
            domain = ", ".join(f"{n}: [{_fmt(lo)}, {_fmt(hi)}]" for n, lo, hi in dim.lr_ranges)
            domain = f"log-uniform by optimizer: {domain}"
        elif dim.fixed:
            domain = f"fixed at {dim.value}"
        elif dim.kind == "choice":
            domain = f"one of {list(dim.choices)}"
        else:
            low, high = dim.bounds
            domain = f"{dim.kind} [{_fmt(low)}, {_fmt(high)}]"
        notes = []
        if dim.outside:
            notes.append("**outside the table** (outside_table: true)")
        if dim.custom:
            notes.append("the config's own hyperparameter")
        if dim.when and dim.name != LR:
            notes.append(f"when {dim.when[0]} is {' or '.join(map(str, dim.when[1]))}")
        lines.append(
            f"| `{dim.name}` | {domain} | {start.get(dim.name, '–')} | {'; '.join(notes)} |"
        )
    return "\n".join(lines) + "\n"


def outside_notes(space: SearchSpace) -> list[str]:
    """One line per override that leaves its table, for commands to show beside their output."""
    return [
        f"space.{dim.name} leaves the recommendation table on purpose ({OUTSIDE}: true): "
        f"{'fixed at ' + str(dim.value) if dim.fixed else _describe_domain(dim)}"
        for dim in space.dims
        if dim.outside
    ]


def _describe_domain(dim: Dimension) -> str:
    if dim.lr_ranges:
        return ", ".join(f"{n} [{_fmt(lo)}, {_fmt(hi)}]" for n, lo, hi in dim.lr_ranges)
    if dim.kind == "choice":
        return f"one of {list(dim.choices)}"
    return f"[{_fmt(dim.bounds[0])}, {_fmt(dim.bounds[1])}]"


def _exponent_label(name: str) -> str:
    return f"log2_{name}"


def _fmt(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"
