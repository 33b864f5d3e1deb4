"""A user's own code: named by import path in the config (``package.module:function``), or
handed to :func:`raytune_hp.tune` as Python objects (a function from a notebook or a script).

Only paths the config names explicitly are imported, nothing else. They are resolved in the
driver before Ray starts (a path that does not resolve is bad input, exit 2). Their modules, and
those of Python objects handed over, are shipped to Ray's workers by value, so the workers need
not find them on their own path; code from a notebook or ``__main__`` travels by value anyway.
The config records a Python object as ``<python: module.name>``: resuming such an experiment
needs the object again, and says so.

Example:
    >>> build = resolve("examples.custom:build", "model.builder")
    >>> build.__name__, build.__module__
    ('build', 'examples.custom')
"""

from __future__ import annotations

import importlib
import inspect
import sysconfig
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from raytune_hp.config.schema import is_python_object
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


CODE_KEYS: dict[str, str] = {
    "model.builder": "model",
    "train.function": "train",
    "train.loss": "loss",
    "data.loader": "data",
}
"""Each config key that names code, and the :func:`raytune_hp.tune` argument that hands the same
code over as a Python object."""


def record(obj: Any) -> str:
    """How a config records a Python object it cannot name by import path.

    Example:
        >>> record(len), record((1, 2))
        ('<python: builtins.len>', '<python: tuple>')
    """
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"<python: {getattr(obj, '__module__', '?')}.{obj.__qualname__}>"
    return f"<python: {type(obj).__qualname__}>"


def ship_by_value(obj: Any) -> None:
    """Makes the module of ``obj`` (a function, or the classes of a data object) travel to Ray's
    workers by value, unless it is installed (then every worker imports it) or ``__main__``
    (whose code travels by value anyway)."""
    from ray import cloudpickle

    parts = obj if isinstance(obj, (tuple, list)) else (obj,)
    for part in parts:
        module = inspect.getmodule(part if callable(part) else type(part))
        if module is None or module.__name__ == "__main__" or _installed(module):
            continue
        cloudpickle.register_pickle_by_value(module)


def _installed(module: ModuleType) -> bool:
    """Whether ``module`` is raytune-hp's own, part of Python, or an installed package."""
    if module.__name__.partition(".")[0] == "raytune_hp":
        return True
    origin = getattr(module, "__file__", None)
    if origin is None:
        return True  # built in
    paths = sysconfig.get_paths()
    roots = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    return any(Path(origin).resolve().is_relative_to(Path(root).resolve()) for root in roots)


def _required_arguments(function: Callable[..., Any]) -> int | None:
    """How many positional arguments ``function`` needs; ``None`` when it cannot be told."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in parameters)


@dataclass(frozen=True)
class UserCode:
    """The user's own code a config names, resolved: each ``None`` where the config names none.

    ``loader`` is a loader function ``(val_fraction, seed) -> data``, or the data itself when it
    was handed to :func:`raytune_hp.tune` as an object (tensors, arrays, a pair of datasets).
    """

    builder: Callable[..., Any] | None = None
    function: Callable[..., Any] | None = None
    loader: Any = None
    loss: Callable[..., Any] | None = None

    @classmethod
    def of(cls, config: ExperimentConfig, given: Mapping[str, Any] | None = None) -> UserCode:
        """Resolves ``model.builder``, ``train.function``, ``train.loss`` and ``data.loader``:
        the Python object handed over for a key (``given``, by config key), else the import path
        the config names.

        Raises:
            ConfigError: a path that does not resolve, or a key the config records as a Python
                object that was not handed over again.
        """
        given = given or {}
        values = {
            "model.builder": config.model.builder,
            "train.function": config.train.function,
            "train.loss": config.train.loss,
            "data.loader": config.data.loader,
        }
        code: dict[str, Any] = {}
        for key, value in values.items():
            if given.get(key) is not None:
                ship_by_value(given[key])
                code[key] = given[key]
            elif is_python_object(value):
                argument = CODE_KEYS[key]
                raise ConfigError(
                    f"{key} must be handed over again as a Python object, as when the "
                    f"experiment started: raytune_hp.tune(..., {argument}=..., resume=True); "
                    f"got none for {value}"
                )
            elif value is not None:
                code[key] = resolve(value, key)
        return cls(
            code.get("model.builder"),
            code.get("train.function"),
            code.get("data.loader"),
            code.get("train.loss"),
        )

    def dataset(self, config: ExperimentConfig) -> Dataset | LoaderData:
        """The experiment's data: the user's loader's, the data handed over, or a built-in set's.

        A function handed over is a loader, ``(val_fraction, seed) -> data``, or, when it takes
        one argument, the loaders of the data, ``(batch_size) -> (train_loader, val_loader)``.
        """
        from raytune_hp.data import as_dataset, load_data

        task = config.train.task
        source = f"data.loader {config.data.loader}"
        options: dict[str, Any] = {
            "task": task,
            "num_workers": config.data.num_workers,
            "num_classes": config.data.num_classes,
        }
        if callable(self.loader) and _required_arguments(self.loader) != 1:
            loaded = self.loader(config.data.val_fraction, config.seed)
            return as_dataset(loaded, source, **options)
        if self.loader is not None:
            return as_dataset(self.loader, source, **options)
        return load_data(
            config.data.name,
            config.data.val_fraction,
            config.seed,
            config.data.path,
            task=task,
            num_classes=config.data.num_classes,
        )

    def model_builder(self, config: ExperimentConfig) -> Callable[..., Any] | None:
        """``(hp, input_shape, num_outputs) -> nn.Module``: the user's, or the built-in model's;
        ``None`` for a training function that builds its own model."""
        from raytune_hp.models import CUSTOM, model_builder

        if config.model.name == CUSTOM and self.builder is None:
            return None
        return model_builder(config.model.name, self.builder)
