"""Pydantic's validation errors in the project's error grammar: ``<key> must <rule>; got <value>``.

Pydantic reports every problem with its own wording; a user gets one line for the first one,
worded like every other message of raytune-hp; a key that is not known comes with the keys that
are and the closest one, a name that is not one of a field's choices with the closest choice (case
ignored: ``Bayes`` finds ``bayes``). The file's name is put in front by the caller.

Example:
    >>> from pydantic import ValidationError
    >>> try:
    ...     ExperimentConfig.model_validate({"name": "demo", "search": {"num_sample": 4}})
    ... except ValidationError as exc:
    ...     print(describe(exc))  # doctest: +NORMALIZE_WHITESPACE
    search.num_sample is not a known key; keys in search must be one of strategy, num_samples,
    budget, max_concurrent, initial_points, grid_points, force_grid, warm_start, coarse_fraction,
    top_k, prior_weight, fidelity (did you mean num_samples?); got 'num_sample'
"""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from raytune_hp.config.schema import CODE, METRIC_NAME, ExperimentConfig
from raytune_hp.errors import PREVIEW_CHARS, bounded, did_you_mean, preview

_PATTERN_RULES = {
    CODE: "be an import path, package.module:function",
    METRIC_NAME: "be a metric's name: a letter or '_', then letters, digits, '.', '/', '_' or '-'",
}


def describe(exc: ValidationError) -> str:
    """One line for the first problem pydantic found, in the project's error grammar.

    Args:
        exc: What :meth:`ExperimentConfig.model_validate` raised.

    Returns:
        ``<key> must <rule>; got <value>``, without the file's name, and `` (did you mean
        <choice>?)`` after a name close to one of the field's choices; a rule that a validator
        states itself (a ``ValueError``) is its message as written.
    """
    error = exc.errors()[0]
    loc = [_short(str(part)) for part in error["loc"]]
    key = ".".join(loc) or "the file"
    given = error.get("input")
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = ".".join(loc[:-1])
        known = _known_keys(loc[:-1])
        where = f"in {parent}" if parent else "at the top level"
        return (
            f"{key} is not a known key; keys {where} must be one of "
            f"{', '.join(known)}{did_you_mean(loc[-1], known)}; got {preview(error['loc'][-1])}"
        )
    if kind == "missing":
        return f"{key} must be given; got nothing"
    if kind == "value_error":
        return bounded(str(ctx.get("error", error["msg"])))
    rules = {
        "greater_than_equal": lambda: f"be ≥ {ctx.get('ge')}",
        "greater_than": lambda: f"be > {ctx.get('gt')}",
        "less_than_equal": lambda: f"be ≤ {ctx.get('le')}",
        "less_than": lambda: f"be < {ctx.get('lt')}",
        "literal_error": lambda: f"be one of {ctx.get('expected')}",
        "int_type": lambda: "be an integer",
        "float_type": lambda: "be a number",
        "string_type": lambda: "be a string",
        "bool_type": lambda: "be true or false",
        "dict_type": lambda: "be a mapping",
        "model_type": lambda: "be a mapping of keys to values",
        "list_type": lambda: "be a list",
        "finite_number": lambda: "be a finite number",
        "string_pattern_mismatch": lambda: _PATTERN_RULES.get(
            str(ctx.get("pattern")), "be a name of letters, digits, '.', '_' or '-'"
        ),
    }
    rule = rules.get(kind, lambda: _rule_from(error["msg"]))()
    hint = ""
    if kind == "literal_error":
        # Pydantic names the choices only in words: "'grid', 'random', 'bayes' or ...".
        hint = did_you_mean(given, re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
    return f"{key} must {rule}; got {preview(given)}{hint}"


def _short(name: str) -> str:
    """A key's name as messages quote it: a long one (from a hostile file) cut."""
    return name if len(name) <= PREVIEW_CHARS else f"{name[:PREVIEW_CHARS]}…"


def _rule_from(message: str) -> str:
    """Pydantic's "Input should be a valid list" as the grammar's "be a valid list"."""
    head = "Input should "
    return message[len(head) :] if message.startswith(head) else f"be valid ({message})"


def _known_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        if part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        # A section that may be left out (``budget: BudgetConfig | None``) is still a section.
        section = [a for a in (annotation, *get_args(annotation)) if _is_model(a)]
        if not section:
            return []
        model = section[0]
    return list(model.model_fields)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
