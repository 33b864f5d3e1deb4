"""A user's own code, named by import path in the config (``package.module:function``).

Only paths the config names explicitly are imported, nothing else. They are resolved in the
driver before Ray starts (a path that does not resolve is bad input, exit 2), and their modules
are shipped to Ray's workers by value, so the workers need not find them on their own path.

Example:
    >>> build = resolve("examples.custom_model:build", "model.builder")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from raytune_hp.errors import ConfigError


def resolve(path: str, key: str, source: str = "") -> Callable[..., Any]:
    """Imports ``module:function`` and returns the function.

    Raises:
        ConfigError: the module does not import or has no such callable.
    """
    where = f"{source}: " if source else ""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way on import
        raise ConfigError(
            f"{where}{key} must name an importable module:function; got {path!r}, importing "
            f"{module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(
            f"{where}{key} must name a function in {module_name}; got {path!r} "
            f"(no callable {attribute!r} there)"
        )
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return function
