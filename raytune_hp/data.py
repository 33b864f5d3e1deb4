"""Data sets, loaded once per experiment as tensors and shared with every trial.

Example:
    >>> data = load_data("digits", val_fraction=0.2, seed=0)
    >>> data.x_train.shape[1:], data.num_classes
    (torch.Size([1, 8, 8]), 10)
    >>> load_data("digits_sequences", val_fraction=0.2, seed=0).input_shape
    (8, 8)
    >>> load_data("npz", 0.2, 0, path="digits.npz")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset

from raytune_hp.config import NPZ_ARRAYS
from raytune_hp.errors import ConfigError


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


def _digits_split(
    val_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's bundled 8×8 digits (1797 images) as (N, 8, 8) pixels in [0, 1] and labels,
    with the indices of a stratified train/validation split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.long)
    idx_train, idx_val = train_test_split(
        torch.arange(len(y)).numpy(), test_size=val_fraction, random_state=seed, stratify=y.numpy()
    )
    return x, y, torch.from_numpy(idx_train), torch.from_numpy(idx_val)


def _digits(val_fraction: float, seed: int) -> Dataset:
    """The digits as one-channel images, x of shape (N, 1, 8, 8), for the CNN."""
    x, y, idx_train, idx_val = _digits_split(val_fraction, seed)
    x = x.unsqueeze(1)
    return Dataset(x[idx_train], y[idx_train], x[idx_val], y[idx_val], num_classes=10)


def _digits_sequences(val_fraction: float, seed: int) -> Dataset:
    """The same digits and split as ``"digits"``, each image read top to bottom as 8 time steps of
    8 pixels: x of shape (N, 8, 8) = (batch, time, features), for the RNN and the Transformer."""
    x, y, idx_train, idx_val = _digits_split(val_fraction, seed)
    return Dataset(x[idx_train], y[idx_train], x[idx_val], y[idx_val], num_classes=10)


LOADERS: dict[str, Callable[[float, int], Dataset]] = {
    "digits": _digits,
    "digits_sequences": _digits_sequences,
}


def load_data(name: str, val_fraction: float, seed: int, path: str | None = None) -> Dataset:
    """Loads data set ``name`` with a validation split that depends only on ``seed``.

    ``npz`` reads the file ``path`` (see :func:`load_npz`); its own validation arrays are the
    split, so ``val_fraction`` and ``seed`` do not apply.

    Raises:
        ConfigError: ``npz`` without a ``path``, or a file that breaks :func:`load_npz`'s rules.
    """
    if name == "npz":
        if path is None:
            raise ConfigError("data.path must be given when data.name is npz; got nothing")
        return load_npz(path)
    return LOADERS[name](val_fraction, seed)


def load_npz(path: str | Path) -> Dataset:
    """A classification set from an ``.npz`` file with the arrays ``x_train``, ``y_train``,
    ``x_val`` and ``y_val`` (as ``numpy.savez`` writes them): x numbers with one row per sample,
    y integer class indices 0, 1, ….

    Raises:
        ConfigError: a file that is missing, not an .npz of plain arrays, or whose arrays break
            these rules, naming the file and the array.
    """
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in NPZ_ARRAYS if name not in archive.files]
            if missing:
                raise ConfigError(
                    f"{path}: the file must hold the arrays {', '.join(NPZ_ARRAYS)}; "
                    f"got no {', '.join(missing)}"
                )
            arrays = {name: archive[name] for name in NPZ_ARRAYS}
    except (OSError, ValueError, EOFError) as exc:  # missing, not a zip, or pickled objects
        raise ConfigError(
            f"{path}: data.path must be an .npz file of plain arrays (numpy.savez); got {exc}"
        ) from None
    for part in ("train", "val"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0):
            raise ConfigError(
                f"{path}: y_{part} must be integer class indices ≥ 0, one per sample (1-D); "
                f"got {y.dtype} of shape {y.shape}"
                + (f" with minimum {y.min()}" if y.size and y.ndim == 1 else "")
            )
        numeric = np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_
        if not numeric or x.ndim < 2 or len(x) != len(y) or len(y) == 0:
            raise ConfigError(
                f"{path}: x_{part} must be numbers with one row per label of y_{part} "
                f"({len(y)}) and at least one feature axis; got {x.dtype} of shape {x.shape}"
            )
    if arrays["x_train"].shape[1:] != arrays["x_val"].shape[1:]:
        raise ConfigError(
            f"{path}: x_val must have the sample shape of x_train "
            f"{arrays['x_train'].shape[1:]}; got {arrays['x_val'].shape[1:]}"
        )
    return as_dataset(tuple(arrays[name] for name in NPZ_ARRAYS), str(path))


def as_dataset(loaded: Any, source: str) -> Dataset:
    """A user loader's result as a :class:`Dataset`.

    Accepted: a ``Dataset``; ``(x_train, y_train, x_val, y_val)`` as tensors or arrays; or
    ``(train, val)`` as ``torch.utils.data.Dataset`` objects yielding ``(x, y)`` pairs (stacked
    into tensors once, so trials index them directly). Labels are class indices.

    Raises:
        ConfigError: anything else, naming ``source`` (the loader's import path).
    """
    if isinstance(loaded, Dataset):
        return loaded
    pair = isinstance(loaded, (tuple, list)) and len(loaded) == 2
    if pair and all(isinstance(part, TorchDataset) for part in loaded):
        (x_train, y_train), (x_val, y_val) = (_stack(part) for part in loaded)
        return _from_tensors(x_train, y_train, x_val, y_val)
    if isinstance(loaded, (tuple, list)) and len(loaded) == 4:
        return _from_tensors(*(torch.as_tensor(part) for part in loaded))
    raise ConfigError(
        f"data.loader {source} must return a Dataset, (x_train, y_train, x_val, y_val) or "
        f"(train_dataset, val_dataset); got {type(loaded).__name__}"
    )


def _stack(dataset: TorchDataset[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
    xs, ys = zip(*pairs, strict=True)
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys)


def _from_tensors(
    x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor
) -> Dataset:
    num_classes = int(max(int(y_train.max()), int(y_val.max()))) + 1
    return Dataset(
        x_train.float(), y_train.long(), x_val.float(), y_val.long(), num_classes=num_classes
    )
