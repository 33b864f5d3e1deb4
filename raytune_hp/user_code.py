"""A user's own code, named by import path in the config (``package.module:function``).

Only paths the config names explicitly are imported, nothing else. They are resolved in the
driver before Ray starts (a path that does not resolve is bad input, exit 2), and their modules
are shipped to Ray's workers by value, so the workers need not find them on their own path.

Example:
    >>> build = resolve("examples.custom:build", "model.builder")
    >>> build.__name__, build.__module__
    ('build', 'examples.custom')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raytune_hp.errors import ConfigError

if TYPE_CHECKING:
    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import Dataset, LoaderData


def resolve(path: str, key: str) -> Callable[..., Any]:
    """Imports ``module:function`` and returns the function.

    Raises:
        ConfigError: the module does not import or has no such callable.
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way on import
        raise ConfigError(
            f"{key} must name an importable module:function; got {path!r}, importing "
            f"{module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(
            f"{key} must name a function in {module_name}; got {path!r} "
            f"(no callable {attribute!r} there)"
        )
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    return function


@dataclass(frozen=True)
class UserCode:
    """The user's own code a config names, resolved: each ``None`` where the config names none."""

    builder: Callable[..., Any] | None = None
    function: Callable[..., Any] | None = None
    loader: Callable[..., Any] | None = None

    @classmethod
    def of(cls, config: ExperimentConfig) -> UserCode:
        """Resolves ``model.builder``, ``train.function`` and ``data.loader``.

        Raises:
            ConfigError: a path that does not resolve.
        """

        def optional(path: str | None, key: str) -> Callable[..., Any] | None:
            return resolve(path, key) if path else None

        return cls(
            optional(config.model.builder, "model.builder"),
            optional(config.train.function, "train.function"),
            optional(config.data.loader, "data.loader"),
        )

    def dataset(self, config: ExperimentConfig) -> Dataset | LoaderData:
        """The experiment's data: the user's loader's, or a built-in set's."""
        from raytune_hp.data import as_dataset, load_data

        if self.loader is not None:
            loaded = self.loader(config.data.val_fraction, config.seed)
            return as_dataset(loaded, f"data.loader {config.data.loader}")
        return load_data(
            config.data.name, config.data.val_fraction, config.seed, path=config.data.path
        )

    def model_builder(self, config: ExperimentConfig) -> Callable[..., Any]:
        """``(hp, input_shape, num_outputs) -> nn.Module``: the user's, or the built-in model's."""
        from raytune_hp.models import model_builder

        return model_builder(config.model.name, self.builder)
