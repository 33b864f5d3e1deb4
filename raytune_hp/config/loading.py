"""Loading a config: a file's YAML (or a mapping built in Python), the ``--set`` overrides,
validation, then the checks that need more than the values themselves.

After the schema has validated the values, :func:`validate_config` resolves the search space,
sizes a grid, looks for the modules that import paths name and opens an npz file's directory, so
that a run never starts on a config that would fail later. A config read from a file
(:func:`load_config`) and one built in Python (:func:`config_from`) pass exactly the same checks,
with the same one-line messages in the error grammar (:class:`~raytune_hp.errors.ConfigError`).

Example:
    >>> config = load_config("configs/quickstart.yaml", overrides=["seed=3"])
    >>> config.name, config.seed
    ('quickstart', 3)
    >>> config_from({"name": "demo", "search": {"num_samples": 0}})
    Traceback (most recent call last):
    raytune_hp.errors.ConfigError: experiment: search.num_samples must be ≥ 1; got 0
"""

from __future__ import annotations

import copy
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from raytune_hp.config.import_paths import check_importable
from raytune_hp.config.messages import describe
from raytune_hp.config.overrides import apply_override
from raytune_hp.config.schema import NPZ_ARRAYS, ExperimentConfig, is_python_object
from raytune_hp.config.yaml_reader import read_yaml
from raytune_hp.errors import ConfigError, SearchSpaceError, bounded, preview
from raytune_hp.spaces import MAX_GRID_DIMENSIONS, SearchSpace, oversized_grid


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
    raw = read_yaml(path, text)
    raw.setdefault("name", path.stem)
    for item in overrides:
        apply_override(raw, item)
    return validate_config(raw, str(path), path.parent)


def config_from(
    raw: Mapping[str, Any] | ExperimentConfig,
    overrides: Iterable[str] = (),
    source: str = "experiment",
) -> ExperimentConfig:
    """A config built in Python (a mapping as the YAML file would hold, or a config object),
    validated exactly as :func:`load_config` validates a file; ``source`` names it in messages
    and a relative ``data.path`` is relative to the current folder.

    Raises:
        ConfigError: with one line naming ``source``, the key, the rule and the value given.
    """
    if isinstance(raw, ExperimentConfig):
        raw = raw.model_dump(mode="json")
    data = copy.deepcopy(dict(raw))
    for item in overrides:
        apply_override(data, item)
    return validate_config(data, source, Path.cwd())


def validate_config(raw: Mapping[str, Any], source: str, folder: Path) -> ExperimentConfig:
    """Validates ``raw`` and runs the checks across sections; ``source`` (a file's path, or
    ``experiment``) starts every message, and ``folder`` anchors a relative ``data.path``.

    Raises:
        ConfigError: the first problem, in one line.
    """
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {describe(exc)}") from None
    try:
        space = config.search_space()
    except SearchSpaceError as exc:
        raise ConfigError(f"{source}: {bounded(str(exc))}") from None
    _check_grid(source, config, space)
    for key, value in (
        ("data.loader", config.data.loader),
        ("model.builder", config.model.builder),
        ("train.function", config.train.function),
        ("train.loss", config.train.loss),
    ):
        if value is not None and not is_python_object(value):
            check_importable(source, key, value)
    return _with_data_file(source, folder, config)


def _check_grid(path: str, config: ExperimentConfig, space: SearchSpace) -> None:
    if config.search.strategy != "grid" or config.search.force_grid:
        return
    size = oversized_grid(space, config.search.grid_points)
    if size is None:
        return
    tuned = space.tuned
    raise ConfigError(
        f"{path}: search.strategy grid must tune at most {MAX_GRID_DIMENSIONS} hyperparameters "
        f"(a grid grows exponentially: this one has {size} trials); got {len(tuned)} "
        f"({', '.join(tuned)}). Fix some in space, use random or bayes, or set "
        "search.force_grid: true"
    )


def _with_data_file(path: str, folder: Path, config: ExperimentConfig) -> ExperimentConfig:
    """``data.path`` as an absolute path, checked to be an .npz file with the four arrays (its
    zip directory only: the arrays are read when the experiment loads its data)."""
    given = config.data.path
    if given is None:
        return config
    file = Path(given).expanduser()
    file = (file if file.is_absolute() else folder / file).resolve()
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
            f"{path}: data.path must be an existing .npz file; got {preview(given)} "
            f"({problem}: {file})"
        )
    return config.model_copy(update={"data": config.data.model_copy(update={"path": str(file)})})
