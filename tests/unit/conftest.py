"""What many unit tests train on: the digits data (loaded once per test session), a small
regression problem, and the quickstart config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.data import Dataset, as_dataset, load_data

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """scikit-learn's digits as images, 20 % held out, split with seed 0."""
    return load_data("digits", val_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def regression() -> Dataset:
    """Two targets, each a noisy linear function of 8 features with a standard deviation of about
    1 (noise 0.1): 800 training and 200 validation samples."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1000, 8, generator=generator)
    y = x @ (torch.randn(8, 2, generator=generator) / 8**0.5)
    y = y + 0.1 * torch.randn(1000, 2, generator=generator)
    data = as_dataset((x[:800], y[:800], x[800:], y[800:]), "synthetic", task="regression")
    assert isinstance(data, Dataset)
    return data


@pytest.fixture(scope="session")
def quickstart() -> ExperimentConfig:
    return load_config(REPO / "configs" / "quickstart.yaml")


@pytest.fixture(autouse=True, scope="session")
def _own_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests sign experiment folders with a key of their own, never the user's (one for the
    session: module fixtures make folders that tests resume)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield
