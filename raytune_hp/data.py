"""Data sets, loaded once per experiment as tensors and shared with every trial.

Example:
    >>> data = load_data("digits", val_fraction=0.2, seed=0)
    >>> data.x_train.shape[1:], data.num_classes
    (torch.Size([1, 8, 8]), 10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Dataset:
    """Train and validation tensors of a classification task."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _digits(val_fraction: float, seed: int) -> Dataset:
    """scikit-learn's bundled 8×8 digits (1797 images), pixels in [0, 1], stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    idx_train, idx_val = train_test_split(
        torch.arange(len(y)).numpy(), test_size=val_fraction, random_state=seed, stratify=y.numpy()
    )
    return Dataset(x[idx_train], y[idx_train], x[idx_val], y[idx_val], num_classes=10)


LOADERS: dict[str, Callable[[float, int], Dataset]] = {"digits": _digits}


def load_data(name: str, val_fraction: float, seed: int) -> Dataset:
    """Loads data set ``name`` with a validation split that depends only on ``seed``."""
    return LOADERS[name](val_fraction, seed)
