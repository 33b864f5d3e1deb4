"""The checks a practitioner runs by hand before a search: the learning-rate range test
(:mod:`~raytune_hp.diagnostics.lr_range_test`) with its smoke test
(:mod:`~raytune_hp.diagnostics.lr_smoke_test`), and the batch-size study
(:mod:`~raytune_hp.diagnostics.batch_size_study`).

Both train the config's recommended configuration (:func:`raytune_hp.spaces.start_point`) with
a trial's own set-up and loop (:func:`raytune_hp.training.set_up_training`, ``train_one_epoch``,
``evaluate``), so what they measure is what a trial would do.

Example (``raytune-hp lr-find`` and ``raytune-hp batch-study`` call these):
    >>> from pathlib import Path
    >>> from raytune_hp.config import load_config
    >>> from raytune_hp.data import load_data
    >>> config, data = load_config("configs/quickstart.yaml"), load_data("digits", 0.2, 0)
    >>> found = lr_find(config, data, Path("runs/lr"))  # doctest: +SKIP
    >>> study = batch_study(config, data, Path("runs/bs"))  # doctest: +SKIP
"""

from __future__ import annotations

from raytune_hp.diagnostics.batch_size_study import BatchStudyResult, BatchStudyRow, batch_study
from raytune_hp.diagnostics.lr_range_test import LrFindResult, lr_find
from raytune_hp.diagnostics.lr_smoke_test import SmokeTest, smoke_test

__all__ = [
    "BatchStudyResult",
    "BatchStudyRow",
    "LrFindResult",
    "SmokeTest",
    "batch_study",
    "lr_find",
    "smoke_test",
]
