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

import zipfile
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from raytune_hp.config.import_paths import check_importable
from raytune_hp.config.messages import describe
from raytune_hp.config.overrides import apply_override
from raytune_hp.config.schema import NPZ_ARRAYS, ExperimentConfig
from raytune_hp.config.yaml_reader import read_yaml
from raytune_hp.errors import ConfigError, SearchSpaceError
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
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe(exc)}") from None
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
            check_importable(path, key, value)
    return _with_data_file(path, config)


def _check_grid(path: Path, config: ExperimentConfig, space: SearchSpace) -> None:
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
