"""raytune-hp: hyperparameter tuning for PyTorch on Ray Tune, with search spaces that mirror the
recommendation tables practitioners tune by.

A config is read and validated once (:mod:`raytune_hp.config`), its space resolved from the
tables (:mod:`raytune_hp.spaces`), a strategy (:mod:`raytune_hp.search`) and early stopping
(:mod:`raytune_hp.early_stopping`) drive Ray Tune over trials that train with
:mod:`raytune_hp.trainable`, and the report is read back from the experiment folder
(:mod:`raytune_hp.storage`, :mod:`raytune_hp.report`). The README's "Where things are" names
every module.

Example:
    >>> import raytune_hp
    >>> result = raytune_hp.tune("configs/quickstart.yaml", verbose=True)  # doctest: +SKIP
    >>> result.best.hparams  # doctest: +SKIP
"""

from raytune_hp.api import tune
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError, RaytuneHPError, SearchSpaceError
from raytune_hp.experiment import run_experiment
from raytune_hp.results import ExperimentResult
from raytune_hp.spaces import resolve_space, sample, start_point

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "ExperimentResult",
    "RaytuneHPError",
    "SearchSpaceError",
    "load_config",
    "resolve_space",
    "run_experiment",
    "sample",
    "start_point",
    "tune",
]
