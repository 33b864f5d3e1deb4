"""A regression data set as a user would load it: scikit-learn's bundled diabetes data (442
patients, 10 measurements, disease progression a year later), standardized, with a validation
split. configs/diabetes.yaml names it (``examples.diabetes:load``); run from the repository's
root so ``examples`` is on the path.

The target is standardized too, so the searched ``val_rmse`` is in standard deviations of the
disease progression: 1.0 is no better than predicting the mean.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split


def load(val_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_val, y_val): inputs and target standardized on the training part."""
    x, y = load_diabetes(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed
    )
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = y_train.mean(), y_train.std()
    parts = (
        (x_train - x_mean) / x_std,
        (y_train - y_mean) / y_std,
        (x_val - x_mean) / x_std,
        (y_val - y_mean) / y_std,
    )
    return tuple(torch.tensor(part, dtype=torch.float32) for part in parts)
