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

from raytune_hp.config.loading import config_from, load_config
from raytune_hp.config.schema import (
    IMPORT_PATH,
    MAX_CLASSES,
    MAX_SEED,
    NPZ_ARRAYS,
    SEQUENCE_MODELS,
    STORAGE_SCHEMES,
    TABLE_NAMES,
    DataConfig,
    EarlyStoppingConfig,
    ExperimentConfig,
    ModelConfig,
    ResourcesConfig,
    SearchConfig,
    TrainConfig,
    is_python_object,
)

__all__ = [
    "IMPORT_PATH",
    "MAX_CLASSES",
    "MAX_SEED",
    "NPZ_ARRAYS",
    "SEQUENCE_MODELS",
    "STORAGE_SCHEMES",
    "TABLE_NAMES",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExperimentConfig",
    "ModelConfig",
    "ResourcesConfig",
    "SearchConfig",
    "TrainConfig",
    "config_from",
    "is_python_object",
    "load_config",
]
