"""Import paths in a config (``package.module:function``), checked without importing the module.

``data.loader``, ``model.builder`` and ``train.function`` name a user's own code. Reading a
config must not run it (nor the torch it imports), so the module is only looked for, and its
source read: a function it plainly does not define is refused before a run starts. Looking runs
no code either: ``pkg.sub.module`` is found by finding ``pkg`` on the path and then each part in
the folders of the one before, never by importing ``pkg`` (as ``importlib.util.find_spec`` would
to find a submodule). Whatever the
source cannot tell (a star import, a module ``__getattr__``, names made through ``globals()``)
is left to the import when the run starts.

Example:
    >>> check_importable(Path("exp.yaml"), "model.builder", "json:loads")  # found: no error
    >>> try:
    ...     check_importable(Path("exp.yaml"), "model.builder", "no_such_module_x:build")
    ... except ConfigError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    exp.yaml: model.builder must name an importable module:function (run from the folder that
    holds the module, or install it); got 'no_such_module_x:build', no module 'no_such_module_x'
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path

from raytune_hp.errors import ConfigError


def check_importable(path: str | Path, key: str, value: str) -> None:
    """Checks that an import path names a module that exists and a function it defines.

    The module must be findable and, as far as its source tells without running it, define
    the function: the module itself is imported only when the run starts.

    Args:
        path: The config file, for messages.
        key: The config key that holds the import path (``model.builder``).
        value: The import path, ``package.module:function``.

    Raises:
        ConfigError: No such module, its source has a syntax error, or its source defines no
            such name at its top level.
    """
    module, _, attribute = value.partition(":")
    spec = find_module(module)
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


def find_module(name: str) -> importlib.machinery.ModuleSpec | None:
    """Where the module ``name`` (dotted) would be imported from, found without importing
    anything: the top-level name on ``sys.path`` (or among the modules already imported), each
    further part in the folders of the package before it.

    A package that changes its own ``__path__`` when it runs (rare) is looked for only in its
    folders on disk.

    Example:
        >>> find_module("json.decoder").origin.endswith("decoder.py")
        True
        >>> find_module("json.no_such_part") is None, find_module("os.path.x") is None
        (True, True)
    """
    parts = name.split(".")
    spec: importlib.machinery.ModuleSpec | None = None
    for index in range(len(parts)):
        dotted = ".".join(parts[: index + 1])
        loaded = sys.modules.get(dotted)
        if loaded is not None:
            spec = getattr(loaded, "__spec__", None)
            if spec is not None:
                continue
        try:
            if spec is None:  # the top-level name: its finders only look, nothing runs
                spec = importlib.util.find_spec(dotted)
            else:
                folders = spec.submodule_search_locations
                if folders is None:  # a module, not a package: it has no parts
                    return None
                spec = _find_in(dotted, list(folders))
        except (ImportError, ValueError):  # ValueError: a module whose __spec__ is None
            return None
        if spec is None:
            return None
    return spec


def _find_in(name: str, folders: list[str]) -> importlib.machinery.ModuleSpec | None:
    """The module ``name`` in one of a package's ``folders``, as the import system's path
    finders see it; parts of a namespace package gathered from every folder.

    Not ``PathFinder.find_spec``: for a namespace package it reads the parent's ``__path__``
    from ``sys.modules``, which holds the parent only once it was imported.
    """
    portions: list[str] = []
    for folder in folders:
        finder = pkgutil.get_importer(folder)
        spec = finder.find_spec(name) if finder is not None else None
        if spec is None:
            continue
        if spec.loader is not None:
            return spec
        portions.extend(spec.submodule_search_locations or ())
    if not portions:
        return None
    namespace = importlib.machinery.ModuleSpec(name, None, is_package=True)
    namespace.submodule_search_locations = portions
    return namespace


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
