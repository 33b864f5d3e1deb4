"""raytune-hp: hyperparameter tuning for PyTorch on Ray Tune, with search spaces that mirror the
recommendation tables practitioners tune by.

Example:
    >>> from raytune_hp import load_config, run_experiment
    >>> result = run_experiment(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
"""

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError, RaytuneHPError, SearchSpaceError
from raytune_hp.experiment import run_experiment
from raytune_hp.spaces import resolve_space, sample, start_point

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "RaytuneHPError",
    "SearchSpaceError",
    "load_config",
    "resolve_space",
    "run_experiment",
    "sample",
    "start_point",
]
