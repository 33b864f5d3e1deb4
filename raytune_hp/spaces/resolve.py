"""Resolving a space: a config's ``space`` section applied to its model's tables.

Per hyperparameter a config may fix a value, narrow a range, restrict a choice, change a table
row's kind by saying it, or add a hyperparameter of its own (an ``int`` or ``float`` may be on a
log scale); for the whole space it may lower every learning rate for fine-tuning and include the
optional tables (tricks, schedule). An override stays inside its table unless it says
``outside_table: true``, and rules that span hyperparameters (heads divide d_model) hold over
every combination the space allows. A name that is not one of a choice's values is answered with
the closest one, case ignored (``Adam``: did you mean ``adam``?).

Example:
    >>> space = resolve_space("cnn", {"batch_size": {"low": 32, "high": 256}, "dropout": 0.1})
    >>> space["batch_size"].choices_or_range(), space["dropout"].fixed
    ((32, 256), True)
    >>> batch = {"kind": "int", "low": 16, "high": 200}  # any integer, not only powers of two
    >>> resolve_space("cnn", {"batch_size": batch})["batch_size"].kind_changed
    True
    >>> resolve_space("cnn", {"dropout": 0.7})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    raytune_hp.errors.SearchSpaceError: space.dropout must be a number in [0, 0.5] (or add ...
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from raytune_hp.errors import SearchSpaceError, did_you_mean
from raytune_hp.spaces.priors import (
    BOUNDS,
    INSIDE,
    PRIOR_SHAPES,
    centred_prior,
    choice_prior,
    scale_of,
    table_prior,
    wide_lr,
    wide_row,
)
from raytune_hp.spaces.render import domain_text, format_range
from raytune_hp.spaces.space import Dimension, SearchSpace
from raytune_hp.spaces.tables import (
    FINE_TUNE_FACTOR,
    KINDS,
    LR,
    OPTIMIZER,
    OPTIMIZERS,
    OUTSIDE,
    TABLES,
    Row,
    table_names,
)
from raytune_hp.values import is_int, is_number, is_positive, is_pow2

RESERVED_KEYS = ("fine_tune", "include", "bounds", "prior", "prior_strength")
"""Keys of a config's ``space`` that shape the whole space rather than name a hyperparameter."""
DEFAULT_BOUNDS = "table"
"""The hard ranges when a config does not say: the tables' own."""
DEFAULT_PRIOR = "uniform"
"""The prior's shape when a config does not say: flat over the hard range."""
BAYES_DEFAULTS = {"bounds": "wide", "prior": "tables"}
"""What ``bayes`` searches when its config does not say: the wide hard ranges under the tables'
priors, which beat the tables' walls on the search-quality benchmark
(``benchmarks/search_priors.py``). Grid, random and coarse-to-fine keep the tables' ranges."""


def resolve_space(
    model: str, overrides: Mapping[str, Any] | None = None, tables: Sequence[str] | None = None
) -> SearchSpace:
    """Applies a config's ``space`` section to the tables of ``model`` (or to ``tables``).

    Per hyperparameter: a value fixes it, ``{low, high}`` narrows a range, a list (or
    ``{choices: [...]}``) restricts a choice, ``{value: ...}`` fixes; ``{kind, low, high}`` (with
    ``log: true`` for an int or float on a log scale) or ``{kind: choice, choices: [...]}``
    changes a table row's kind (integers stay integers, numbers numbers); any of the mapping
    forms may add ``outside_table: true`` to leave the table's range on purpose. A name the
    tables lack is the config's own hyperparameter when it says its ``kind`` (``log: true`` as
    above; a float on a log scale is kind ``log``). The reserved keys ``fine_tune`` (lower every
    lr range 100×) and ``include`` (optional tables) shape the whole space.

    Raises:
        SearchSpaceError: an unknown key, an override outside the table, a broken constraint.
    """
    overrides = dict(overrides or {})
    fine_tune = overrides.pop("fine_tune", False)
    if not isinstance(fine_tune, bool):
        raise SearchSpaceError(f"space.fine_tune must be true or false; got {fine_tune!r}")
    bounds = _one_of("bounds", overrides.pop("bounds", DEFAULT_BOUNDS), BOUNDS)
    shape = _one_of("prior", overrides.pop("prior", DEFAULT_PRIOR), PRIOR_SHAPES)
    strength = overrides.pop("prior_strength", INSIDE)
    if not is_number(strength) or not 0.5 <= strength < 1:
        raise SearchSpaceError(
            "space.prior_strength must be the share of the prior's mass inside the tables' "
            f"ranges, in [0.5, 1); got {strength!r}"
        )
    centres = _named_centres(overrides)
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
            dims.append(_resolve_lr(row, optimizers, override, fine_tune, bounds))
        elif row.name in known:
            dims.append(_resolve_row(row, override, bounds))
        else:
            dims.append(_resolve_custom(row))
    dims = _drop_inactive(dims, overrides)
    _check_constraints(dims)
    dims = [_with_prior(dim, shape, centres.get(dim.name), fine_tune, strength) for dim in dims]
    return SearchSpace(
        model=model, dims=tuple(dims), fine_tune=fine_tune, bounds=bounds, prior=shape
    )


def _one_of(key: str, value: Any, allowed: Sequence[str]) -> Any:
    if value not in allowed:
        raise SearchSpaceError(
            f"space.{key} must be one of {', '.join(allowed)}; got {value!r}"
            f"{did_you_mean(value, allowed)}"
        )
    return value


def _named_centres(overrides: dict[str, Any]) -> dict[str, Any]:
    """Takes each ``prior: <centre>`` out of the overrides (a mapping left empty becomes no
    override: the row's own range), and returns the centres by hyperparameter."""
    centres = {}
    for name, spec in list(overrides.items()):
        if isinstance(spec, Mapping) and "prior" in spec:
            rest = {k: v for k, v in spec.items() if k != "prior"}
            centres[name] = spec["prior"]
            overrides[name] = rest or None
    if LR in centres:
        raise SearchSpaceError(
            f"space.{LR} must not name a prior: each optimizer's lr prior is centred on its own "
            f"range; got prior={centres[LR]!r}"
        )
    return centres


def _with_prior(
    dim: Dimension, shape: str, centre: Any, fine_tune: bool, strength: float
) -> Dimension:
    """``dim`` with its prior: the centre the config names, else the tables' (``shape``
    ``tables``), else none (uniform)."""
    key = f"space.{dim.name}.prior"
    if centre is not None:
        if dim.fixed or dim.kind == "choice":
            raise SearchSpaceError(f"{key} must be given only for a searched numeric range")
        low, high = dim.bounds
        if not is_number(centre) or not low <= centre <= high:
            raise SearchSpaceError(f"{key} must be a number in [{low}, {high}]; got {centre!r}")
        prior = centred_prior(centre, low, high, scale_of(dim.kind, dim.row.log))
        return replace(dim, priors=((None, prior),))
    if shape != "tables" or dim.fixed:
        return dim
    if dim.kind == "choice":
        return replace(dim, priors=((None, choice_prior(dim.choices, dim.row.start)),))
    scale = scale_of(dim.kind, dim.row.log)
    if dim.name == LR:
        divisor = round(1 / FINE_TUNE_FACTOR) if fine_tune else 1
        priors = []
        for name, low, high in dim.lr_ranges:
            table = OPTIMIZERS[name].low / divisor, OPTIMIZERS[name].high / divisor
            prior = table_prior(dim.row, low, high, table, scale_of("log"), strength)
            priors.append((name, prior))
        return replace(dim, priors=tuple(priors))
    low, high = dim.bounds
    return replace(dim, priors=((None, table_prior(dim.row, low, high, None, scale, strength)),))


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
    blank = Row(name, "choice", how="your own", note="added by the config")
    row = _row_of_kind(blank, key, spec, optional=("start",), as_what=" as your own hyperparameter")
    if row.kind == "choice":
        return replace(row, start=spec.get("start", row.choices[0]))
    return replace(row, start=spec.get("start", row.low))


def _row_of_kind(
    row: Row, key: str, spec: Mapping[str, Any], optional: tuple[str, ...], as_what: str
) -> Row:
    """``row`` with the kind, scale and range or choices that ``spec`` says, validated: the one
    reading of ``{kind, low, high, log}`` and ``{kind, choices}`` for the config's own
    hyperparameters and for table rows whose kind the config changes. Keys in ``optional`` are
    allowed and left to the caller."""
    kind, log = spec["kind"], spec.get("log", False)
    scaled = kind in ("int", "float")
    if kind in KINDS and "log" in spec and not scaled:
        raise SearchSpaceError(
            f"{key}.log must be given only with kind int or float (pow2 and log are on a log "
            f"scale already, a choice has no scale); got kind {kind}"
        )
    if not isinstance(log, bool):
        raise SearchSpaceError(f"{key}.log must be true or false; got {log!r}")
    needed = {"kind", "choices"} if kind == "choice" else {"kind", "low", "high"}
    allowed = needed | set(optional) | ({"log"} if scaled else set())
    if kind not in KINDS or set(spec) - allowed or not needed <= set(spec):
        extras = " and ".join((*optional, "log") if scaled else optional)
        raise SearchSpaceError(
            f"{key}{as_what} must have kind (one of {', '.join(KINDS)}) and "
            f"{'choices' if kind == 'choice' else 'low and high'} ({extras} optional); "
            f"got {dict(spec)}"
        )
    if kind == "choice":
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{key}.choices must be a non-empty list; got {choices!r}")
        return replace(row, kind="choice", low=None, high=None, choices=tuple(choices), log=False)
    low, high = spec["low"], spec["high"]
    positive = kind == "log" or log
    numeric = all(is_number(v) for v in (low, high))
    if not numeric or low >= high or (positive and low <= 0):
        rule = "0 < low < high" if positive else "low < high"
        raise SearchSpaceError(
            f"{key} must have numbers with {rule}; got low={low!r}, high={high!r}"
        )
    if kind in ("int", "pow2") and not all(isinstance(v, int) for v in (low, high)):
        raise SearchSpaceError(f"{key} must have integer bounds; got low={low!r}, high={high!r}")
    if kind == "pow2" and not (is_pow2(low) and is_pow2(high)):
        raise SearchSpaceError(f"{key} must have powers of two as bounds; got {low}, {high}")
    # A float on a log scale is what kind log already is: one kind, one way to compile it.
    if kind == "float" and log:
        return replace(row, kind="log", low=low, high=high, choices=(), log=False)
    return replace(row, kind=kind, low=low, high=high, choices=(), log=log and kind == "int")


def _resolve_custom(row: Row) -> Dimension:
    if row.kind == "choice" and len(row.choices) == 1:
        return Dimension(row, value=row.choices[0], fixed=True, custom=True)
    return Dimension(row, low=row.low, high=row.high, choices=row.choices, custom=True)


def _resolve_row(row: Row, override: Any, bounds: str = "table") -> Dimension:
    key = f"space.{row.name}"
    if override is None and bounds == "wide" and row.kind != "choice":
        wide = wide_row(row)
        changed = wide.kind != row.kind  # weight decay: a log scale to reach 1e-1
        return Dimension(wide, low=wide.low, high=wide.high, widened=True, kind_changed=changed)
    if override is None:
        return Dimension(row, low=row.low, high=row.high, choices=row.choices)
    if isinstance(override, Mapping):
        spec = dict(override)
        outside = spec.pop(OUTSIDE, False)
        if not isinstance(outside, bool):
            raise SearchSpaceError(f"{key}.{OUTSIDE} must be true or false; got {outside!r}")
        if "kind" in spec:
            return _rekind(row, key, spec, outside)
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


# The kinds a table row may become when a config says ``kind``: what its model still accepts
# (an integer stays an integer, a number a number; a choice's values are the model's own words).
_NEW_KINDS = {
    "int": ("int", "pow2", "choice"),
    "pow2": ("int", "pow2", "choice"),
    "float": ("float", "log", "choice"),
    "log": ("float", "log", "choice"),
    "choice": ("choice",),
}
_TAKES = {"int": "integers", "pow2": "integers", "float": "numbers", "log": "numbers"}


def _rekind(row: Row, key: str, spec: Mapping[str, Any], outside: bool) -> Dimension:
    """A table row given a kind by the config: ``{kind: int, low: 16, high: 200}`` on the batch
    size's powers of two. The kind change is allowed because the config says it; the new values
    stay in the table's range unless ``outside`` says the config leaves it on purpose. Saying the
    row's own kind and scale is an ordinary override."""
    kind = spec["kind"]
    allowed = _NEW_KINDS[row.kind]
    if kind not in allowed:
        takes = _TAKES.get(row.kind, f"one of {list(row.choices)}")
        kinds = f"{', '.join(allowed[:-1])} or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
        raise SearchSpaceError(
            f"{key}.kind must be {kinds} ({row.name} takes {takes}); got {kind!r}"
        )
    new = _row_of_kind(row, key, spec, optional=(OUTSIDE,), as_what=" with its kind changed")
    rest = {k: v for k, v in spec.items() if k not in ("kind", "log")}
    if row.kind == "choice" or (new.kind, new.log) == (row.kind, row.log):
        if new.kind == "choice":
            return _restrict(row, key, list(new.choices), outside)
        return _narrow(row, key, rest, outside)
    values = list(new.choices) or [new.low, new.high]
    if new.kind == "choice":
        integral = row.kind in ("int", "pow2")
        for value in values:
            if not (is_int(value) if integral else is_number(value)):
                raise SearchSpaceError(f"{key}.choices must be {_TAKES[row.kind]}; got {value!r}")
        if len(values) != len(set(values)):
            raise SearchSpaceError(f"{key}.choices must list each value once; got {values}")
    assert row.low is not None and row.high is not None
    beyond = [value for value in values if not row.low <= value <= row.high]
    if beyond and not outside:
        raise SearchSpaceError(
            f"{key} must lie in the table's range {format_range(row.low, row.high)} (or add "
            f"{OUTSIDE}: true to leave the table on purpose); got {beyond[0]!r}"
        )
    if len(new.choices) == 1:
        return Dimension(new, value=values[0], fixed=True, outside=bool(beyond), kind_changed=True)
    return Dimension(
        new,
        low=new.low,
        high=new.high,
        choices=new.choices,
        outside=bool(beyond),
        kind_changed=True,
    )


def _leaves(row: Row, spec: Mapping[str, Any]) -> bool:
    """Whether an (already validated) override reaches beyond the table's own domain."""
    values = [spec[k] for k in ("value", "low", "high") if k in spec] + list(
        spec.get("choices", [])
    )
    if row.kind == "choice":
        return any(v not in row.choices for v in values)
    assert row.low is not None and row.high is not None
    return any(not row.low <= v <= row.high for v in values)


def _check_value(row: Row, key: str, value: Any, outside: bool) -> None:
    """Type always; the table's range unless ``outside`` says the config leaves it on purpose."""
    hint = f" (or add {OUTSIDE}: true to leave the table on purpose)"
    if row.kind == "choice":
        types = {type(c) for c in row.choices}
        # 3.0 == 3 and True == 1: a choice must match in type too, or 3.0 reaches the model.
        inside = any(type(value) is type(c) and value == c for c in row.choices)
        if inside or (outside and type(value) in types):
            return
        raise SearchSpaceError(
            f"{key} must be {domain_text(row)}{hint}; got {value!r}"
            f"{did_you_mean(value, row.choices)}"
        )
    integral = row.kind in ("int", "pow2")
    typed = is_number(value) and (isinstance(value, int) or not integral)
    typed = typed and (row.kind != "pow2" or is_pow2(value))
    typed = typed and (row.kind != "log" or value > 0)
    assert row.low is not None and row.high is not None
    if typed and (outside or row.low <= value <= row.high):
        return
    raise SearchSpaceError(
        f"{key} must be {domain_text(row)}{hint if typed else ''}; got {value!r}"
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


def _resolve_lr(
    row: Row, optimizers: Sequence[str], override: Any, fine_tune: bool, bounds: str = "table"
) -> Dimension:
    key = f"space.{LR}"
    unknown = [name for name in optimizers if name not in OPTIMIZERS]
    if unknown:
        # outside_table may widen a range, but an optimizer needs its row of the lr table.
        raise SearchSpaceError(
            f"space.{OPTIMIZER} must name optimizers of the lr table ({', '.join(OPTIMIZERS)}), "
            f"with or without {OUTSIDE}; got {unknown[0]!r}{did_you_mean(unknown[0], OPTIMIZERS)}"
        )
    # Divide rather than multiply by 0.01: 1e-4 * 0.01 is 1.0000000000000002e-06, which would
    # refuse lr 1e-6 for a fine-tuned AdamW while the message says its range is [1e-06, ...].
    divisor = round(1 / FINE_TUNE_FACTOR) if fine_tune else 1
    table = [(n, OPTIMIZERS[n].low / divisor, OPTIMIZERS[n].high / divisor) for n in optimizers]
    row = replace(row, when=(OPTIMIZER, tuple(optimizers)))
    if override is None and bounds == "wide":
        ranges = tuple((name, *wide_lr(low, high)) for name, low, high in table)
        return Dimension(row, lr_ranges=ranges, widened=True)
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
                f"{format_range(low, high)}; or add {OUTSIDE}: true); got {value!r}"
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
                f"{format_range(low, high)} misses {name}'s {format_range(t_low, t_high)} "
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
                f"{key} must lie in {format_range(t_low, t_high)} (or add {OUTSIDE}: true); "
                f"got {format_range(low, high)}"
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
