"""How the tables and spaces read as text: the Markdown of ``raytune-hp spaces``, the notes on
overrides that leave a table, and the words for a domain that error messages share.

Example:
    >>> from raytune_hp.spaces import TABLES
    >>> domain_text(TABLES["cnn"].rows[1]), domain_text(TABLES["optimization"].rows[2])
    ('an integer in [100, 600]', 'a power of two in [1, 1024]')
    >>> format_tables(["regularization"]).splitlines()[4]
    '| `dropout` | a number in [0, 0.5] | 0.5 | finely |  |'
"""

from __future__ import annotations

from collections.abc import Sequence

from raytune_hp.errors import SearchSpaceError
from raytune_hp.models import MODELS
from raytune_hp.spaces.priors import ChoicePrior
from raytune_hp.spaces.space import Dimension, SearchSpace, start_point
from raytune_hp.spaces.tables import (
    FINE_TUNE_FACTOR,
    LR,
    LR_TABLE,
    OUTSIDE,
    TABLES,
    Row,
)
from raytune_hp.values import compact


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
                table_range = format_range(opt.low, opt.high)
                fine = format_range(opt.low * FINE_TUNE_FACTOR, opt.high * FINE_TUNE_FACTOR)
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
                domain = "table lr" if r.name == LR else domain_text(r)
                if r.when and r.name != LR:
                    domain += f" (when {r.when[0]} is {' or '.join(map(str, r.when[1]))})"
                lines.append(f"| `{r.name}` | {domain} | {r.start} | {r.how} | {r.note} |")
        parts.append("\n".join(lines))
    models = "\n".join(f"- `{m}`: {', '.join(spec.tables)}" for m, spec in MODELS.items())
    parts.append(f"## Tables each model draws from\n\n{models}")
    return "\n\n".join(parts) + "\n"


def format_space(space: SearchSpace) -> str:
    """One config's resolved space as Markdown: what is searched, fixed, added, changed or
    outside.

    Example:
        >>> from raytune_hp.spaces import resolve_space
        >>> space = resolve_space("mlp", {"batch_size": {"kind": "int", "low": 16, "high": 200},
        ...                               "width": {"kind": "int", "low": 8, "high": 512,
        ...                                         "log": True}})
        >>> print(format_space(space).splitlines()[6])
        | `batch_size` | int [16, 200] | 128 | kind changed by the config |
        >>> print(format_space(space).splitlines()[-1])
        | `width` | int, log scale [8, 512] | 8 | the config's own hyperparameter |
    """
    title = f"## Search space of the {space.model} model" + (
        " (fine-tuning)" if space.fine_tune else ""
    )
    priors = any(dim.priors for dim in space.dims)
    header = "| hyperparameter | searched over | start | note |"
    lines = [title, ""]
    if priors:
        lines += [
            "The prior leans each search towards the tables within the hard ranges "
            f"(bounds: {space.bounds}); the searcher draws its first trials from it.",
            "",
        ]
        header = "| hyperparameter | hard range | prior | start | note |"
    lines += [header, _rule(header)]
    start = start_point(space)
    for dim in space.dims:
        if dim.name == LR and not dim.fixed:
            domain = ", ".join(f"{n}: {format_range(lo, hi)}" for n, lo, hi in dim.lr_ranges)
            domain = f"{'log scale' if priors else 'log-uniform'} by optimizer: {domain}"
        elif dim.fixed:
            domain = f"fixed at {dim.value}"
        elif dim.kind == "choice":
            domain = f"one of {list(dim.choices)}"
        else:
            low, high = dim.bounds
            scale = ", log scale" if dim.row.log else ""
            domain = f"{dim.kind}{scale} {format_range(low, high)}"
        notes = []
        if dim.widened:
            scale = " to a log scale" if dim.kind_changed else ""
            notes.append(f"widened{scale} (bounds: wide)")
        if dim.outside:
            notes.append("**outside the table** (outside_table: true)")
        if dim.kind_changed and not dim.widened:
            notes.append("kind changed by the config")
        if dim.custom:
            notes.append("the config's own hyperparameter")
        if dim.when and dim.name != LR:
            notes.append(f"when {dim.when[0]} is {' or '.join(map(str, dim.when[1]))}")
        prior = f" {_prior_text(dim)} |" if priors else ""
        first = start.get(dim.name, "–")
        first = compact(first) if isinstance(first, float) and len(str(first)) > 8 else first
        lines.append(f"| `{dim.name}` | {domain} |{prior} {first} | {'; '.join(notes)} |")
    return "\n".join(lines) + "\n"


def _rule(header: str) -> str:
    return "|---" * (header.count("|") - 1) + "|"


def _prior_text(dim: Dimension) -> str:
    """How a dimension's prior reads: ``centred at 3.16e-3, 80% in [1e-3, 1e-2]`` (per optimizer
    for the lr), a choice's shares, or ``uniform``."""
    if dim.fixed:
        return "–"
    if not dim.priors:
        return "uniform"
    texts = []
    for value, prior in dim.priors:
        text = prior.text(dim.choices) if isinstance(prior, ChoicePrior) else prior.text(compact)
        texts.append(text if value is None else f"{value}: {text}")
    return "; ".join(texts)


def outside_notes(space: SearchSpace) -> list[str]:
    """One line per override that leaves its table, for commands to show beside their output."""
    return [
        f"space.{dim.name} leaves the recommendation table on purpose ({OUTSIDE}: true): "
        f"{'fixed at ' + str(dim.value) if dim.fixed else _describe_domain(dim)}"
        for dim in space.dims
        if dim.outside
    ]


def domain_text(row: Row) -> str:
    """How a table row's domain reads, in the printed tables and in the messages that refuse an
    override: ``a number in [0, 0.5]``, ``one of [1, 3, 5, 7]``."""
    if row.kind == "choice":
        return f"one of {list(row.choices)}"
    if row.kind == "pow2":
        return f"a power of two in {format_range(row.low, row.high)}"
    if row.kind == "int":
        scale = " on a log scale" if row.log else ""
        return f"an integer{scale} in {format_range(row.low, row.high)}"
    return f"a number in {format_range(row.low, row.high)}"


def format_range(low: float | None, high: float | None) -> str:
    """A range as the tables and messages print it: ``[1e-05, 0.0001]``; ``?`` for a missing
    bound."""
    return f"[{_fmt(low)}, {_fmt(high)}]"


def _describe_domain(dim: Dimension) -> str:
    if dim.lr_ranges:
        return ", ".join(f"{n} {format_range(lo, hi)}" for n, lo, hi in dim.lr_ranges)
    if dim.kind == "choice":
        return f"one of {list(dim.choices)}"
    return format_range(*dim.bounds)


def _fmt(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"
