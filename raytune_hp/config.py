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
from raytune_hp.spaces import (
    DEFAULT_CUSTOM_TABLES,
    TABLES,
    SearchSpace,
    grid_size,
    resolve_space,
)

IMPORT_PATH = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"
TABLE_NAMES = tuple(TABLES)
METRIC_MODES: dict[str, Literal["min", "max"]] = {"val_acc": "max", "val_loss": "min"}
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _custom_name(data: Any, key: str) -> Any:
    """``{builder: ...}`` alone means ``name: custom``."""
    if isinstance(data, dict) and data.get(key) is not None and "name" not in data:
        return {**data, "name": "custom"}
    return data


def _check_custom(name: str, path: str | None, section: str, key: str) -> None:
    if (name == "custom") != (path is not None):
        raise ValueError(
            f"{section}.{key} must be given exactly when {section}.name is custom; "
            f"got name {name!r} with {key} {path!r}"
        )


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


SEQUENCE_MODELS = ("rnn", "transformer")
MAX_GRID_DIMENSIONS = 4


class DataConfig(_Section):
    """Which data set, and how much of it is held out for validation.

    ``loader`` names your own loader (``package.module:function``) instead of a built-in set.
    """

    name: Literal["digits", "digits_sequences", "custom"] = "digits"
    loader: str | None = Field(None, pattern=IMPORT_PATH)
    val_fraction: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _custom_when_loader(cls, data: Any) -> Any:
        return _custom_name(data, "loader")

    @model_validator(mode="after")
    def _loader_with_custom(self) -> DataConfig:
        _check_custom(self.name, self.loader, "data", "loader")
        return self


class ModelConfig(_Section):
    """Which model family; its hyperparameters come from the tables (``space``).

    ``builder`` names your own model builder (``package.module:function``); ``tables`` says
    which recommendation tables its space draws from.
    """

    name: Literal["cnn", "mlp", "rnn", "transformer", "custom"] = "cnn"
    builder: str | None = Field(None, pattern=IMPORT_PATH)
    tables: list[Literal[TABLE_NAMES]] | None = None  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _custom_when_builder(cls, data: Any) -> Any:
        return _custom_name(data, "builder")

    @model_validator(mode="after")
    def _builder_with_custom(self) -> ModelConfig:
        _check_custom(self.name, self.builder, "model", "builder")
        if self.tables is not None and self.name != "custom":
            raise ValueError(
                "model.tables must be left out for a built-in model (its tables are fixed: "
                f"`raytune-hp spaces`); got {self.tables} for {self.name}"
            )
        return self


class TrainConfig(_Section):
    """The per-trial training budget and the metric the search optimizes.

    ``function`` names your own whole training function (``package.module:function``), called as
    ``function(hp, data, report, state)``; it must report ``epoch`` and the metric every epoch.
    ``retries``: how often a failed trial (an error, a lost node) restarts from its checkpoint.
    ``allow_oversized``: train configurations whose model has more trainable parameters than
    half the training samples (the capacity rule); by default they are skipped before training.
    """

    max_epochs: int = Field(20, ge=1)
    metric: Literal["val_acc", "val_loss"] = "val_acc"
    function: str | None = Field(None, pattern=IMPORT_PATH)
    retries: int = Field(2, ge=0)
    allow_oversized: bool = False

    @property
    def mode(self) -> Literal["min", "max"]:
        return METRIC_MODES[self.metric]


class SearchConfig(_Section):
    """Which strategy proposes configurations, and how many.

    ``grid`` tries every combination (``grid_points`` values per range) once and refuses more than
    4 tuned hyperparameters unless ``force_grid``. ``coarse-to-fine`` spends ``coarse_fraction``
    of ``num_samples`` on random search over the whole space, then the rest on TPE over a space
    narrowed around the ``top_k`` best. ``warm_start`` names earlier experiments whose trials
    seed TPE (``bayes``).
    """

    strategy: Literal["grid", "random", "bayes", "coarse-to-fine"] = "bayes"
    num_samples: int = Field(20, ge=1)
    max_concurrent: int | None = Field(None, ge=1)
    initial_points: int | None = Field(None, ge=1)
    grid_points: int = Field(3, ge=2)
    force_grid: bool = False
    warm_start: list[str] = []
    coarse_fraction: float = Field(0.5, gt=0, lt=1)
    top_k: int | None = Field(None, ge=1)


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

    ``storage`` is a folder or a URI (``s3://bucket/runs``, ``gs://...``). On a cluster of more
    than one node a folder must be one every node sees (NFS): say so with ``shared_storage``.

    ``space`` holds overrides of the recommendation tables: a value fixes a hyperparameter,
    ``{low, high}`` narrows a range, a list restricts a choice.
    """

    name: str = Field(pattern=_NAME_PATTERN)
    seed: int = Field(0, ge=0)
    storage: str = "runs"
    shared_storage: bool = False
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

    @model_validator(mode="after")
    def _data_fits_the_model(self) -> ExperimentConfig:
        sequences = self.data.name == "digits_sequences"
        if self.model.name in SEQUENCE_MODELS and self.data.name == "digits":
            raise ValueError(
                f"data.name must be digits_sequences for the {self.model.name} model (each "
                "image as 8 rows of 8 pixels); got digits"
            )
        if self.model.name == "cnn" and sequences:
            raise ValueError(
                "data.name must be digits (images) for the cnn model; got " + repr(self.data.name)
            )
        return self

    def search_space(self) -> SearchSpace:
        """The tables of ``model.name`` (or ``model.tables``) with ``space`` applied."""
        if self.model.name == "custom":
            tables = self.model.tables or list(DEFAULT_CUSTOM_TABLES)
            return resolve_space("custom", self.space, tables=tables)
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


def load_config(
    path: str | Path, overrides: Iterable[str] = (), text: str | None = None
) -> ExperimentConfig:
    """Reads, overrides (``KEY=VALUE``, dotted keys) and validates an experiment config.

    ``text``, when given, is the file's content (read from shared storage); ``path`` then only
    names it in messages.

    Raises:
        ConfigError: with one line naming the file, the key, the rule and the value given.
    """
    path = Path(path)
    raw = _read_yaml(path, text)
    raw.setdefault("name", path.stem)
    for item in overrides:
        _apply_override(raw, item)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}") from None
    try:
        space = config.search_space()
    except SearchSpaceError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    _check_grid(path, config, space)
    for key, value in (
        ("data.loader", config.data.loader),
        ("model.builder", config.model.builder),
        ("train.function", config.train.function),
    ):
        if value is not None:
            _check_importable(path, key, value)
    return config


def _check_grid(path: Path, config: ExperimentConfig, space: SearchSpace) -> None:
    tuned = space.tuned
    if config.search.strategy != "grid" or len(tuned) <= MAX_GRID_DIMENSIONS:
        return
    if config.search.force_grid:
        return
    size = grid_size(space, config.search.grid_points)
    raise ConfigError(
        f"{path}: search.strategy grid must tune at most {MAX_GRID_DIMENSIONS} hyperparameters "
        f"(a grid grows exponentially: this one has {size} trials); got {len(tuned)} "
        f"({', '.join(tuned)}). Fix some in space, use random or bayes, or set "
        "search.force_grid: true"
    )


def _check_importable(path: Path, key: str, value: str) -> None:
    """The module must be findable now; the function itself is looked up when the run starts."""
    import importlib.util

    module = value.partition(":")[0]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"{path}: {key} must name an importable module:function (run from the folder that "
            f"holds the module, or install it); got {value!r}, no module {module!r}"
        )


def _read_yaml(path: Path, text: str | None = None) -> dict[str, Any]:
    try:
        text = path.read_text() if text is None else text
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
