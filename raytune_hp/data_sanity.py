"""The rules a data set must meet before an experiment starts: numbers that are finite, class
indices that name a sensible number of classes, no empty split.

Bad data otherwise passes silently or fails late: a NaN feature trains every trial to NaN and
still yields a "best config", one stray label of 10**6 builds a model with a million outputs,
string or unsigned labels end in a traceback inside torch. Each rule here is checked once, in the
driver, before Ray starts, and a break is one line in the error grammar that names the split, what
must hold and what was found (how many values, the first sample's index).

The rules, in order:

- features and regression targets are numbers (not strings, objects or dates; every sample of
  one shape), real, and finite (no NaN, no inf);
- unsigned integers are read as signed ones when they fit (torch cannot compare most of them);
- classification labels are one whole number ≥ 0 per sample: integers, or floats without a
  fraction (``1.0`` is class 1), never strings (map names to indices first);
- the number of classes is ``data.num_classes`` when the config states it (every label below it),
  else the largest label + 1, which must exceed neither the training samples (or
  :data:`CHEAP_CLASSES`, whichever is more) nor :data:`~raytune_hp.config.MAX_CLASSES`: a
  larger one is almost surely a stray label.

Example:
    >>> y = as_tensor([0, 1, 2, 1], "y_train", "demo")
    >>> count_classes([("y_train", y)], "demo", stated=None, train_size=4)
    3
    >>> try:
    ...     check_finite(torch.tensor([[0.0, 1.0], [float("nan"), 2.0]]), "x_val", "demo")
    ... except ConfigError as exc:
    ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
    demo: x_val must be finite numbers; got 1 NaN and 0 infinite values, the first in sample 1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from raytune_hp.config import MAX_CLASSES
from raytune_hp.errors import ConfigError, preview

CHEAP_CLASSES = 1000
"""Up to this many classes are inferred from the labels whatever the training set's size: a
model of 1000 outputs is cheap, so even a stray label below it costs little."""
_UNSIGNED = (torch.uint16, torch.uint32, torch.uint64)
_KINDS = {"U": "strings", "S": "bytes", "O": "Python objects", "M": "dates", "m": "durations"}


def as_tensor(value: Any, name: str, source: str) -> torch.Tensor:
    """``value`` (a tensor, an array, a list) as a tensor of real numbers.

    Unsigned integers become int64 (torch implements few operations on uint16/32/64); a list of
    tensors is stacked.

    Raises:
        ConfigError: ``value`` holds strings, objects, dates or complex numbers, or samples of
            different shapes, or unsigned integers beyond int64.

    Example:
        >>> as_tensor(np.array([3, 1], dtype=np.uint32), "y_train", "demo").dtype
        torch.int64
        >>> try:
        ...     as_tensor(np.array(["cat", "dog"]), "y_train", "demo")
        ... except ConfigError as exc:
        ...     print(exc)  # doctest: +NORMALIZE_WHITESPACE
        demo: y_train must be numbers (class indices 0, 1, …: map names to indices first, e.g.
        with sklearn.preprocessing.LabelEncoder); got strings, such as 'cat'
    """
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            tensor = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError, OverflowError):
            tensor = _through_numpy(value, name, source)
    if tensor.dtype in _UNSIGNED:
        array = tensor.numpy()
        if array.size and int(array.max()) > np.iinfo(np.int64).max:
            raise ConfigError(
                f"{source}: {name} must be numbers that fit in 64-bit signed integers; got "
                f"{array.dtype} values up to {int(array.max())}"
            )
        tensor = torch.from_numpy(array.astype(np.int64))
    if tensor.is_complex():
        raise ConfigError(f"{source}: {name} must be real numbers; got {tensor.dtype}")
    return tensor


def _through_numpy(value: Any, name: str, source: str) -> torch.Tensor:
    """What torch cannot read directly: a list of tensors (stacked), else a clear refusal."""
    labels = name.startswith("y")
    rule = (
        "numbers (class indices 0, 1, …: map names to indices first, e.g. with "
        "sklearn.preprocessing.LabelEncoder)"
        if labels
        else "numbers"
    )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        array = None
    if array is None or (array.dtype.kind == "O" and _ragged(value)):
        raise ConfigError(
            f"{source}: {name} must be {rule}, every sample of one shape; got samples of "
            "different shapes"
        )
    kind = _KINDS.get(array.dtype.kind)
    if kind is None:
        return as_tensor(array, name, source)
    first = array.flat[0] if array.size else None
    first = first.item() if isinstance(first, np.generic) else first
    raise ConfigError(f"{source}: {name} must be {rule}; got {kind}, such as {preview(first)}")


def _ragged(value: Any) -> bool:
    """Whether a sequence's items have different lengths (numpy makes an object array)."""
    try:
        return len({len(item) for item in value}) > 1
    except TypeError:
        return False


def check_finite(values: torch.Tensor, name: str, source: str) -> None:
    """Raises unless every value is finite (features, or regression targets); the message counts
    the NaN and infinite values and names the first sample that holds one.

    Raises:
        ConfigError: a NaN or an infinite value.
    """
    if not values.is_floating_point() or values.numel() == 0:
        return  # integers and booleans are always finite
    nan, inf = torch.isnan(values), torch.isinf(values)
    nans, infs = int(nan.sum()), int(inf.sum())
    if nans or infs:
        rows = (nan | inf).reshape(len(values), -1).any(dim=1)
        first = int(rows.nonzero()[0, 0])
        raise ConfigError(
            f"{source}: {name} must be finite numbers; got {nans} NaN and {infs} infinite "
            f"values, the first in sample {first}"
        )


def check_samples(x: torch.Tensor, y: torch.Tensor, part: str, source: str) -> None:
    """Raises unless ``x`` has one row per target of ``y``, at least one (no empty split)."""
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(y) == 0:
        rows = len(y) if y.ndim else "a single number"
        got = f"{len(x)} rows" if x.ndim else "a single number"
        raise ConfigError(
            f"{source}: x_{part} must have one row per target of y_{part} ({rows}), at least "
            f"one; got {got}"
        )


def check_regression_targets(y: torch.Tensor, name: str, source: str) -> None:
    """Raises unless ``y`` are finite numbers of shape (N,) or (N, k)."""
    if y.ndim not in (1, 2) or y.dtype == torch.bool:
        raise ConfigError(
            f"{source}: {name} must be numbers of shape (N,) or (N, k) for a regression "
            f"task; got {y.dtype} of shape {tuple(y.shape)}"
        )
    check_finite(y, name, source)


def check_labels(y: torch.Tensor, name: str, source: str) -> None:
    """Raises unless ``y`` is one class index per sample: whole numbers ≥ 0, 1-D."""
    rule = (
        f"{source}: {name} must be integer class indices ≥ 0, one per sample (1-D) for a "
        "classification task"
    )
    if y.ndim != 1:
        raise ConfigError(f"{rule}; got {y.dtype} of shape {tuple(y.shape)}")
    if y.numel() == 0:
        return
    if y.is_floating_point():
        check_finite(y, name, source)
        fraction = (y != y.floor()).nonzero()
        if len(fraction):
            index = int(fraction[0, 0])
            raise ConfigError(
                f"{rule}; got {y.dtype} with {y[index].item()} at index {index} (not a whole "
                "number)"
            )
    negative = (y < 0).nonzero()
    if len(negative):
        index = int(negative[0, 0])
        raise ConfigError(f"{rule}; got {y.dtype} with {_label(y, index)} at index {index}")


def count_classes(
    labels: Sequence[tuple[str, torch.Tensor]], source: str, stated: int | None, train_size: int
) -> int:
    """The number of classes: ``stated`` (``data.num_classes``), which every label must be
    below, else the largest label + 1, bounded by the training samples and
    :data:`~raytune_hp.config.MAX_CLASSES`.

    Args:
        labels: each split's name (``y_train``) and labels, checked by :func:`check_labels`.
        source: where the data came from, the start of every message.
        stated: the number of classes the config states, or ``None`` to infer it.
        train_size: the training samples: more inferred classes than samples (and than
            :data:`CHEAP_CLASSES`) means a stray label.

    Raises:
        ConfigError: a label that breaks :func:`check_labels`, one not below ``stated``, or an
            inferred number of classes above the bound.
    """
    for name, y in labels:
        check_labels(y, name, source)
    filled = [(name, y) for name, y in labels if y.numel()]
    if stated is not None:
        for name, y in filled:
            above = (y >= stated).nonzero()
            if len(above):
                index = int(above[0, 0])
                raise ConfigError(
                    f"{source}: {name} must be class indices below data.num_classes ({stated}); "
                    f"got {_label(y, index)} at index {index}"
                )
        return stated
    if not filled:
        raise ConfigError(f"{source}: the labels must hold at least one sample; got none")
    name, y = max(filled, key=lambda item: int(item[1].max()))
    largest = int(y.max())
    limit = min(MAX_CLASSES, max(train_size, CHEAP_CLASSES))
    if largest + 1 > limit:
        index = int((y == y.max()).nonzero()[0, 0])
        raise ConfigError(
            f"{source}: {name} must be class indices below {limit} (the number of classes, "
            f"the largest label + 1, is at most the training samples ({train_size}) or "
            f"{CHEAP_CLASSES}, and at most {MAX_CLASSES}, unless data.num_classes states it); "
            f"got {_label(y, index)} at index {index}"
        )
    return largest + 1


def _label(y: torch.Tensor, index: int) -> str:
    value = y[index].item()
    return f"the label {int(value) if float(value).is_integer() else value}"
