"""Loading a config: a file's YAML, the ``--set`` overrides, validation, then the checks that
need more than the values themselves.

After the schema has validated the values, :func:`load_config` resolves the search space, sizes
a grid, looks for the modules that import paths name and opens an npz file's directory, so that
a run never starts on a config that would fail later. Any problem is one line in the error
grammar (:class:`~raytune_hp.errors.ConfigError`).

Example:
    >>> config = load_config("configs/quickstart.yaml", overrides=["seed=3"])
    >>> config.name, config.seed
    ('quickstart', 3)
"""

from __future__ import annotations

import ast
import difflib
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from raytune_hp.config.schema import (
    IMPORT_PATH,
    MAX_GRID_DIMENSIONS,
    NPZ_ARRAYS,
    ExperimentConfig,
)
from raytune_hp.errors import ConfigError, SearchSpaceError
from raytune_hp.spaces import SearchSpace, grid_size


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
