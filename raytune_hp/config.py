"""Experiment configs: YAML in, a validated and frozen :class:`ExperimentConfig` out.

This is the only place that reads a user's YAML. Unknown keys, wrong types and impossible values
are refused with one line: ``<file>: <key> must <rule>; got <value>``. Reading a config imports
neither torch nor Ray.

Example:
    >>> config = load_config("configs/quickstart.yaml", overrides=["search.num_samples=4"])
    >>> config.search.num_samples
    4
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from raytune_hp.errors import ConfigError, SearchSpaceError
from raytune_hp.spaces import SearchSpace, resolve_space

METRIC_MODES: dict[str, Literal["min", "max"]] = {"val_acc": "max", "val_loss": "min"}
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Section):
    """Which data set, and how much of it is held out for validation."""

    name: Literal["digits"] = "digits"
    val_fraction: float = Field(0.2, gt=0, lt=1)


class ModelConfig(_Section):
    """Which model family; its hyperparameters come from the tables (``space``)."""

    name: Literal["cnn"] = "cnn"


class TrainConfig(_Section):
    """The per-trial training budget and the metric the search optimizes."""

    max_epochs: int = Field(20, ge=1)
    metric: Literal["val_acc", "val_loss"] = "val_acc"

    @property
    def mode(self) -> Literal["min", "max"]:
        return METRIC_MODES[self.metric]


class SearchConfig(_Section):
    """Which strategy proposes configurations, and how many."""

    strategy: Literal["bayes", "random"] = "bayes"
    num_samples: int = Field(20, ge=1)
    max_concurrent: int | None = Field(None, ge=1)
    initial_points: int | None = Field(None, ge=1)


class EarlyStoppingConfig(_Section):
    """ASHA, or none (every trial trains for ``train.max_epochs``)."""

    name: Literal["asha", "none"] = "asha"
    grace_period: int = Field(2, ge=1)
    reduction_factor: float = Field(3.0, gt=1)


class ResourcesConfig(_Section):
    """What one trial reserves. ``gpus_per_trial`` unset: one GPU if Ray reports any, else none."""

    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float | None = Field(None, ge=0)


class ExperimentConfig(_Section):
    """A whole experiment: what to train, over which space, with which strategy.

    ``space`` holds overrides of the recommendation tables: a value fixes a hyperparameter,
    ``{low, high}`` narrows a range, a list restricts a choice.
    """

    name: str = Field(pattern=_NAME_PATTERN)
    seed: int = Field(0, ge=0)
    storage: str = "runs"
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    space: dict[str, Any] = {}
    search: SearchConfig = SearchConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    resources: ResourcesConfig = ResourcesConfig()

    @model_validator(mode="after")
    def _grace_within_budget(self) -> ExperimentConfig:
        if self.early_stopping.name == "asha" and (
            self.early_stopping.grace_period > self.train.max_epochs
        ):
            raise ValueError(
                "early_stopping.grace_period must be ≤ train.max_epochs "
                f"({self.train.max_epochs}); got {self.early_stopping.grace_period}"
            )
        return self

    def search_space(self) -> SearchSpace:
        """The tables of ``model.name`` with ``space`` applied."""
        return resolve_space(self.model.name, self.space)

    def to_yaml(self) -> str:
        """The config with every default filled in, loadable again by :func:`load_config`."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3`` as a number (YAML 1.1 wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Reads, overrides (``KEY=VALUE``, dotted keys) and validates an experiment config.

    Raises:
        ConfigError: with one line naming the file, the key, the rule and the value given.
    """
    path = Path(path)
    raw = _read_yaml(path)
    raw.setdefault("name", path.stem)
    for item in overrides:
        _apply_override(raw, item)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    try:
        config.search_space()
    except SearchSpaceError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: the config file must be readable; got {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "unparsable"
        raise ConfigError(f"{path}: the file must be valid YAML; got {problem}{where}") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got an empty file"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got a {_type_name(raw)}"
        )
    return raw


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise ConfigError(f"--set must be KEY=VALUE with a dotted KEY; got {item!r}")
    value = yaml.load(text, Loader=_Loader) if text else None
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(
                f"--set {key}: {part} must be a mapping to set keys in; got {child!r}"
            )
        node = child
    node[parts[-1]] = value


def _describe(exc: ValidationError) -> str:
    """One line for the first problem pydantic found, in the project's error grammar."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = ".".join(loc) or "the file"
    given = error.get("input")
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = ".".join(loc[:-1])
        known = _known_keys(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], known, n=1)
        where = f"in {parent}" if parent else "at the top level"
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        return (
            f"{key} is not a known key; keys {where} must be one of "
            f"{', '.join(known)}{suggestion}; got {loc[-1]!r}"
        )
    if kind == "missing":
        return f"{key} must be given; got nothing"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
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
        "string_pattern_mismatch": lambda: "be a name of letters, digits, '.', '_' or '-'",
    }
    rule = rules.get(kind, lambda: error["msg"].lower())()
    return f"{key} must {rule}; got {given!r}"


def _known_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] = ExperimentConfig
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _type_name(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )
