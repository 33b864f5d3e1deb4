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

import ast
import difflib
import re
import zipfile
from collections.abc import Iterable, Iterator
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
STORAGE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs", "file")
"""The URI schemes of ``storage`` (pyarrow's filesystems, which Ray Tune and the reports use)."""
NPZ_ARRAYS = ("x_train", "y_train", "x_val", "y_val")
"""The arrays a ``data: {name: npz}`` file holds (``numpy.savez(path, x_train=..., ...)``)."""


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
    ``name: npz`` reads ``path``, an ``.npz`` file with the arrays ``x_train``, ``y_train``,
    ``x_val`` and ``y_val`` (x numbers, y integer class indices); a relative path is relative to
    the config file's folder. Its own ``x_val``/``y_val`` are the validation set, so
    ``val_fraction`` does not apply to it.
    """

    name: Literal["digits", "digits_sequences", "npz", "custom"] = "digits"
    loader: str | None = Field(None, pattern=IMPORT_PATH)
    path: str | None = None
    val_fraction: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _custom_when_loader(cls, data: Any) -> Any:
        return _custom_name(data, "loader")

    @model_validator(mode="after")
    def _loader_with_custom(self) -> DataConfig:
        _check_custom(self.name, self.loader, "data", "loader")
        if (self.name == "npz") != (self.path is not None):
            raise ValueError(
                "data.path must be given exactly when data.name is npz; "
                f"got name {self.name!r} with path {self.path!r}"
            )
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
    ``precision``: ``bf16`` runs the built-in loop's forward passes under bfloat16 autocast
    (weights and optimizer stay float32); ``fp32`` is plain float32.
    """

    max_epochs: int = Field(20, ge=1)
    metric: Literal["val_acc", "val_loss"] = "val_acc"
    function: str | None = Field(None, pattern=IMPORT_PATH)
    retries: int = Field(2, ge=0)
    allow_oversized: bool = False
    precision: Literal["fp32", "bf16"] = "fp32"

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
    """What one trial reserves. ``gpus_per_trial`` unset: one GPU if Ray reports any, else none.

    A fraction shares one GPU: ``0.25`` runs four trials on it, each capped to a quarter of its
    memory. Above one, whole GPUs only (Ray's rule).
    """

    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> ResourcesConfig:
        gpus = self.gpus_per_trial
        if gpus is not None and gpus > 1 and not float(gpus).is_integer():
            raise ValueError(
                "resources.gpus_per_trial must be a fraction of one GPU (≤ 1) or a whole number "
                f"of GPUs; got {gpus}"
            )
        return self


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
    def _storage_scheme(self) -> ExperimentConfig:
        scheme, sep, _ = self.storage.partition("://")
        if (sep and scheme not in STORAGE_SCHEMES) or not self.storage.strip():
            raise ValueError(
                "storage must be a folder or a URI of "
                f"{', '.join(f'{s}://' for s in STORAGE_SCHEMES)}; got {self.storage!r}"
            )
        return self

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

    def search_space(self, overrides: dict[str, Any] | None = None) -> SearchSpace:
        """The tables of ``model.name`` (or ``model.tables``) with ``space`` applied, or with
        ``overrides`` in its place (the fine phase of coarse-to-fine)."""
        overrides = self.space if overrides is None else overrides
        if self.model.name == "custom":
            tables = self.model.tables or list(DEFAULT_CUSTOM_TABLES)
            return resolve_space("custom", overrides, tables=tables)
        return resolve_space(self.model.name, overrides)

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
# Safe: a SafeLoader builds only plain data (mappings, lists, strings, numbers, booleans, null,
# dates), never Python objects; any other tag (!!python/object/apply:...) is refused by
# _check_plain before anything is built.
_PLAIN_TAGS = frozenset(tag for tag in _Loader.yaml_constructors if tag) | {
    "tag:yaml.org,2002:merge"  # `<<: *anchor`, merged by the loader itself
}


def load_config(
    path: str | Path, overrides: Iterable[str] = (), text: str | None = None
) -> ExperimentConfig:
    """Reads, overrides (``KEY=VALUE``, dotted keys) and validates an experiment config.

    ``text``, when given, is the file's content (read from shared storage); ``path`` then only
    names it in messages. A relative ``data.path`` is resolved against the config file's folder.

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
    return _with_data_file(path, config)


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
    """The module must be findable and, as far as its source tells without running it, define
    the function: the module itself is imported only when the run starts."""
    import importlib.util

    module, _, attribute = value.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except Exception:  # a parent package that fails on import, or is no package
        spec = None
    if spec is None:
        raise ConfigError(
            f"{path}: {key} must name an importable module:function (run from the folder that "
            f"holds the module, or install it); got {value!r}, no module {module!r}"
        )
    origin = spec.origin
    if not origin or not origin.endswith(".py") or not Path(origin).is_file():
        return  # a namespace package or a compiled module: found at import time
    try:
        tree = ast.parse(Path(origin).read_text(), origin)
    except (OSError, UnicodeDecodeError, ValueError):
        return
    except SyntaxError as exc:
        raise ConfigError(
            f"{path}: {key} must name a module that imports; got {value!r}, whose source "
            f"{origin} has a syntax error at line {exc.lineno}: {exc.msg}"
        ) from None
    names = _top_level_names(tree)
    if names is not None and attribute not in names:
        raise ConfigError(
            f"{path}: {key} must name a function that module {module} defines; got {value!r}, "
            f"and {origin} defines no {attribute!r}"
        )


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at its top level; ``None`` when its source cannot tell (a star
    import, a module ``__getattr__``, ``global``, names made through ``globals()`` or ``exec``)."""
    for node in ast.walk(tree):
        dynamic = isinstance(node, ast.Global) or (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"globals", "setattr", "exec", "vars"}
        )
        if dynamic or (isinstance(node, ast.ImportFrom) and node.names[0].name == "*"):
            return None
    names: set[str] = set()
    for statement in _module_statements(tree.body):
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if statement.name == "__getattr__":
                return None
            names.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names.update(
                (alias.asname or alias.name).partition(".")[0] for alias in statement.names
            )
        else:
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case)):
                    continue
                names.update(
                    sub.id
                    for sub in ast.walk(child)
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)
                )
    return names


def _module_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at import time: inside if/try/with/for blocks, not inside defs."""
    for statement in body:
        yield statement
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for child in ast.iter_child_nodes(statement):
            if isinstance(child, ast.stmt):
                yield from _module_statements([child])
            elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                yield from _module_statements(child.body)


def _with_data_file(path: Path, config: ExperimentConfig) -> ExperimentConfig:
    """``data.path`` as an absolute path, checked to be an .npz file with the four arrays (its
    zip directory only: the arrays are read when the experiment loads its data)."""
    given = config.data.path
    if given is None:
        return config
    file = Path(given).expanduser()
    file = (file if file.is_absolute() else path.parent / file).resolve()
    problem = (
        "no such file"
        if not file.exists()
        else "not a file"
        if not file.is_file()
        else "not named .npz"
        if file.suffix != ".npz"
        else None
    )
    if problem is None:
        try:
            with zipfile.ZipFile(file) as archive:
                stored = set(archive.namelist())
        except (OSError, zipfile.BadZipFile) as exc:
            problem = f"not a zip of arrays as numpy.savez writes: {exc}"
        else:
            missing = [name for name in NPZ_ARRAYS if f"{name}.npy" not in stored]
            if missing:
                problem = f"no array {', '.join(missing)}; it must hold {', '.join(NPZ_ARRAYS)}"
    if problem is not None:
        raise ConfigError(
            f"{path}: data.path must be an existing .npz file; got {given!r} ({problem}: {file})"
        )
    return config.model_copy(update={"data": config.data.model_copy(update={"path": str(file)})})


def _read_yaml(path: Path, text: str | None = None) -> dict[str, Any]:
    try:
        text = path.read_text() if text is None else text
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{path}: the config file must be readable; got {reason}") from None
    try:
        raw = _parse_yaml(text, "")
    except _YAMLProblem as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if raw is None:
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got an empty file"
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the file must be a YAML mapping of keys to values; got a {_type_name(raw)}"
        )
    return raw


class _YAMLProblem(Exception):
    """Why a YAML text was refused, in the error grammar but without the file's name."""


def _parse_yaml(text: str, key: str) -> Any:
    """Plain YAML data; ``key`` is where ``text`` sits in the config ("" for a whole file)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_plain(node, key, set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "unparsable"
        subject = key or "the file"
        raise _YAMLProblem(f"{subject} must be valid YAML; got {problem}{where}") from None
    finally:
        loader.dispose()


def _check_plain(node: yaml.Node, key: str, seen: set[int]) -> None:
    """Refuses tags that would build anything but plain data, and keys given twice."""
    if id(node) in seen:  # an alias of a node already checked
        return
    seen.add(id(node))
    subject = key or "the file"
    line = node.start_mark.line + 1
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _YAMLProblem(
            f"{subject} must be plain YAML data, without tags such as !!python/... (they "
            f"construct Python objects and are not allowed); got the tag {tag} at line {line}"
        )
    if isinstance(node, yaml.MappingNode):
        firsts: dict[Any, int] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            child = f"{key}.{name}" if key else str(name)
            if name is not None and name in firsts and key_node.tag != "tag:yaml.org,2002:merge":
                raise _YAMLProblem(
                    f"{child} must be given once; got it twice (lines {firsts[name]} and "
                    f"{key_node.start_mark.line + 1})"
                )
            if name is not None:
                firsts[name] = key_node.start_mark.line + 1
            _check_plain(key_node, child, seen)
            _check_plain(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_plain(item, f"{key}[{index}]", seen)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key or not re.fullmatch(r"[A-Za-z_][\w.]*", key):
        raise ConfigError(f"--set must be KEY=VALUE with a dotted KEY; got {item!r}")
    try:
        value = _parse_yaml(text, key) if text else None
    except _YAMLProblem as exc:
        raise ConfigError(f"--set {exc}") from None
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
        "list_type": lambda: "be a list",
        "finite_number": lambda: "be a finite number",
        "string_pattern_mismatch": lambda: (
            "be an import path, package.module:function"
            if ctx.get("pattern") == IMPORT_PATH
            else "be a name of letters, digits, '.', '_' or '-'"
        ),
    }
    rule = rules.get(kind, lambda: _rule_from(error["msg"]))()
    return f"{key} must {rule}; got {given!r}"


def _rule_from(message: str) -> str:
    """Pydantic's "Input should be a valid list" as the grammar's "be a valid list"."""
    head = "Input should "
    return message[len(head) :] if message.startswith(head) else f"be valid ({message})"


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
