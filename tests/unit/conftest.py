"""What many unit tests train on: the digits data (loaded once per test session) and the
quickstart config."""

from __future__ import annotations

from pathlib import Path

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.data import Dataset, load_data

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """scikit-learn's digits as images, 20 % held out, split with seed 0."""
    return load_data("digits", val_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def quickstart() -> ExperimentConfig:
    return load_config(REPO / "configs" / "quickstart.yaml")
