"""The data a trial trains on, in two forms that the training loop reads alike.

- :class:`Dataset`: whole train and validation tensors, loaded once per experiment and shared with
  every trial through Ray's object store (once per node); a trial indexes them directly, on the
  GPU when they fit (:func:`raytune_hp.devices.place_data`).
- :class:`LoaderData`: data a trial iterates with DataLoaders every epoch, so per-sample
  transforms run every epoch and nothing is stacked: a pair of ``torch.utils.data.Dataset``\\ s,
  or a function that builds the user's own loaders for a batch size.

Both satisfy :class:`TrainingData`, the little the loop needs: the input shape, the number of
outputs, the training-set size and the batches of an epoch. :func:`as_dataset` turns what a
user's loader returns into one of them.

Example:
    >>> data = load_data("digits", val_fraction=0.2, seed=0)
    >>> data.x_train.shape[1:], data.num_outputs, data.train_size
    (torch.Size([1, 8, 8]), 10, 1437)
    >>> load_data("digits_sequences", val_fraction=0.2, seed=0).input_shape
    (8, 8)
    >>> load_data("npz", 0.2, 0, path="digits.npz")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import IterableDataset, Subset

from raytune_hp.config import NPZ_ARRAYS
from raytune_hp.data_sanity import (
    as_tensor,
    check_finite,
    check_regression_targets,
    check_samples,
    count_classes,
)
from raytune_hp.errors import ConfigError
from raytune_hp.metrics import Task

Batch = tuple[torch.Tensor, torch.Tensor]
Part = Literal["train", "val"]
Loaders = Callable[[int], tuple[Iterable[Batch], Iterable[Batch]]]
"""``loaders(batch_size) -> (train_loader, val_loader)``: a user's own DataLoaders (re-iterable,
one pass an epoch) for one batch size."""

EVAL_CHUNK = 1024  # evaluation keeps no activations for backward, so it takes bigger chunks
PROBE_BATCH_SIZE = 128  # the tables' starting batch size: the checks reuse the probe's loaders


class TrainingData(Protocol):
    """What the training loop reads of its data, whatever its form."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input, without the batch dimension."""
        ...

    @property
    def num_outputs(self) -> int:
        """The model's outputs: classes for classification, targets for regression."""
        ...

    @property
    def train_size(self) -> int:
        """The number of training samples (the capacity rule's denominator)."""
        ...

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps in one epoch at ``batch_size`` (the lr schedule's length)."""
        ...

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Batch]:
        """One epoch of ``(inputs, targets)`` training batches, in an order drawn from
        ``generator``."""
        ...

    def eval_batches(self, part: Part, batch_size: int) -> Iterable[Batch]:
        """Every sample of ``part`` once, in ``(inputs, targets)`` batches, for evaluation."""
        ...


@dataclass(frozen=True)
class Dataset:
    """Train and validation tensors: inputs, and targets that are class indices (classification)
    or floats of shape (N,) or (N, k) (regression)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_outputs: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return len(self.x_train)

    def steps_per_epoch(self, batch_size: int) -> int:
        return math.ceil(len(self.x_train) / batch_size)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """A seeded random order of the training set, indexed where the tensors live."""
        order = torch.randperm(len(self.x_train), generator=generator).to(self.x_train.device)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            yield self.x_train[idx], self.y_train[idx]

    def eval_batches(self, part: Part, batch_size: int) -> Iterator[Batch]:
        """``part`` in order, in chunks of ``batch_size`` or 1024, whichever is larger."""
        x, y = (self.x_train, self.y_train) if part == "train" else (self.x_val, self.y_val)
        chunk = max(batch_size, EVAL_CHUNK)
        for start in range(0, len(x), chunk):
            yield x[start : start + chunk], y[start : start + chunk]


# What this process holds of one LoaderData, by its key: Ray hands every trial a fresh copy of
# the experiment's data, and a process that runs several trials (reused actors) keeps the first
# copy's datasets and the loaders last built, so a dataset's own caches and open files survive
# from one trial to the next. One entry each: a new key or batch size replaces it.
_DATASETS: dict[str, tuple[TorchDataset[Any], TorchDataset[Any]]] = {}
_LOADERS: dict[str, tuple[int, tuple[Iterable[Batch], Iterable[Batch]]]] = {}


@dataclass(frozen=True)
class LoaderData:
    """Data a trial iterates with DataLoaders every epoch, in one of two sources.

    ``datasets``, a pair ``(train, val)`` of map-style ``torch.utils.data.Dataset``\\ s: every
    epoch a DataLoader reads them at the trial's batch size, the training set shuffled with the
    trial's seeded generator and the validation set in order, with ``num_workers`` worker
    processes and pinned memory when the trial trains on a GPU (``pin_memory``, set by
    :func:`raytune_hp.devices.place_data`).

    ``loaders``, a function ``loaders(batch_size) -> (train_loader, val_loader)``: the user's own
    loaders (their samplers, workers and collation), built for each trial's batch size. A process
    builds them again only when the batch size changes.

    ``key`` names the data across the copies Ray hands each trial; :func:`as_dataset` makes it.
    The shape, outputs and size are measured once, by :func:`as_dataset`.
    """

    input_shape: tuple[int, ...]
    num_outputs: int
    train_size: int
    datasets: tuple[TorchDataset[Any], TorchDataset[Any]] | None = None
    loaders: Loaders | None = None
    num_workers: int = 0
    pin_memory: bool = False
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if (self.datasets is None) == (self.loaders is None):
            raise ValueError("LoaderData takes exactly one of datasets and loaders")

    def steps_per_epoch(self, batch_size: int) -> int:
        if self.loaders is not None:
            with contextlib.suppress(TypeError):  # a loader without a length: by the size
                return len(self._user_loaders(batch_size)[0])  # type: ignore[arg-type]
        return math.ceil(self.train_size / batch_size)

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterable[Batch]:
        """The user's training loader, or a DataLoader over the training set shuffled with
        ``generator`` (its order, and the workers' seeds, drawn from it)."""
        if self.loaders is not None:
            return self._user_loaders(batch_size)[0]
        return self._loader(self._datasets()[0], batch_size, generator)

    def eval_batches(self, part: Part, batch_size: int) -> Iterable[Batch]:
        index = 0 if part == "train" else 1
        if self.loaders is not None:
            return self._user_loaders(batch_size)[index]
        return self._loader(self._datasets()[index], batch_size, None)

    def _loader(
        self, dataset: TorchDataset[Any], batch_size: int, generator: torch.Generator | None
    ) -> Iterable[Batch]:
        from torch.utils.data import DataLoader

        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
        )

    def _datasets(self) -> tuple[TorchDataset[Any], TorchDataset[Any]]:
        held = _DATASETS.get(self.key)
        if held is None:
            assert self.datasets is not None  # __post_init__: one source or the other
            _DATASETS.clear()
            held = _DATASETS[self.key] = self.datasets
        return held

    def _user_loaders(self, batch_size: int) -> tuple[Iterable[Batch], Iterable[Batch]]:
        held = _LOADERS.get(self.key)
        if held is None or held[0] != batch_size:
            assert self.loaders is not None  # __post_init__: one source or the other
            _LOADERS.clear()  # the old loaders' datasets go before the new ones are built
            built = _loader_pair(self.loaders(batch_size), "loaders(batch_size)")
            held = _LOADERS[self.key] = (batch_size, built)
        return held[1]


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
    return Dataset(x[idx_train], y[idx_train], x[idx_val], y[idx_val], num_outputs=10)


def _digits_sequences(val_fraction: float, seed: int) -> Dataset:
    """The same digits and split as ``"digits"``, each image read top to bottom as 8 time steps of
    8 pixels: x of shape (N, 8, 8) = (batch, time, features), for the RNN and the Transformer."""
    x, y, idx_train, idx_val = _digits_split(val_fraction, seed)
    return Dataset(x[idx_train], y[idx_train], x[idx_val], y[idx_val], num_outputs=10)


LOADERS: dict[str, Callable[[float, int], Dataset]] = {
    "digits": _digits,
    "digits_sequences": _digits_sequences,
}


def load_data(
    name: str,
    val_fraction: float,
    seed: int,
    path: str | None = None,
    *,
    task: Task = "classification",
    num_classes: int | None = None,
) -> Dataset:
    """Loads data set ``name`` with a validation split that depends only on ``seed``.

    ``npz`` reads the file ``path`` (see :func:`load_npz`); its own validation arrays are the
    split, so ``val_fraction`` and ``seed`` do not apply. The digits are classification sets.

    Raises:
        ConfigError: ``npz`` without a ``path``, a file that breaks :func:`load_npz`'s rules, or
            the digits for a regression task.
    """
    if name == "npz":
        if path is None:
            raise ConfigError("data.path must be given when data.name is npz; got nothing")
        return load_npz(path, task=task, num_classes=num_classes)
    if task != "classification":
        raise ConfigError(
            f"train.task must be classification for data.name {name} (digit classes); got {task}"
        )
    return LOADERS[name](val_fraction, seed)


def load_npz(
    path: str | Path, *, task: Task = "classification", num_classes: int | None = None
) -> Dataset:
    """A data set from an ``.npz`` file with the arrays ``x_train``, ``y_train``, ``x_val`` and
    ``y_val`` (as ``numpy.savez`` writes them): x numbers with one row per sample; y integer
    class indices 0, 1, … for classification, numbers of shape (N,) or (N, k) for regression.

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
        if task == "classification" and (
            y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or (y.size and y.min() < 0)
        ):
            raise ConfigError(
                f"{path}: y_{part} must be integer class indices ≥ 0, one per sample (1-D); "
                f"got {y.dtype} of shape {y.shape}"
                + (f" with minimum {y.min()}" if y.size and y.ndim == 1 else "")
            )
        if task == "regression" and (y.ndim not in (1, 2) or not np.issubdtype(y.dtype, np.number)):
            raise ConfigError(
                f"{path}: y_{part} must be numbers of shape (N,) or (N, k) for a regression "
                f"task; got {y.dtype} of shape {y.shape}"
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
    loaded = as_dataset(
        tuple(arrays[name] for name in NPZ_ARRAYS), str(path), task=task, num_classes=num_classes
    )
    assert isinstance(loaded, Dataset)  # four arrays make tensors
    return loaded


def as_dataset(
    loaded: Any,
    source: str,
    *,
    task: Task = "classification",
    num_workers: int = 0,
    num_classes: int | None = None,
) -> Dataset | LoaderData:
    """What a user's loader returned, as data the training loop takes.

    Accepted:

    - a :class:`Dataset` or :class:`LoaderData`, as it is;
    - ``(x_train, y_train, x_val, y_val)`` as tensors or arrays: a :class:`Dataset`;
    - ``(train, val)`` as map-style ``torch.utils.data.Dataset``\\ s yielding ``(x, y)``: a
      :class:`LoaderData` that DataLoaders read every epoch, with ``num_workers`` workers;
    - a function ``loaders(batch_size) -> (train_loader, val_loader)``: a :class:`LoaderData`
      that each trial calls with its batch size.

    Targets are class indices (whole numbers ≥ 0, one per sample) for classification, numbers of
    shape (N,) or (N, k) for regression. The number of outputs is ``num_classes`` when given,
    else the largest class index + 1, or the targets' width k (1 for (N,)). The data must pass
    :mod:`raytune_hp.data_sanity`'s rules: finite features (every value of tensors; the first
    sample or batch of datasets and loaders), labels within the number of classes, no empty
    split.

    What it costs: tensors are checked once. For a dataset pair, the input shape comes from the
    first training sample, and the classes from the datasets' ``.classes`` (torchvision's class
    names) or ``.targets`` attributes, looked up through ``Subset``\\ s (``random_split``); without
    them, one pass reads every sample of both datasets, transforms included (for images on
    disk, every file once), in this process, once per experiment. A loaders function is called
    once here with batch size 128 and its first training batch read; its size is
    ``len(train_loader.dataset)`` and its classes come from its loaders' datasets as for a pair,
    else from one pass over both loaders.

    Args:
        loaded: what the loader returned.
        source: where it came from, the start of every message (``data.loader pkg.mod:load``).
        task: ``classification`` or ``regression``: what the targets are.
        num_workers: DataLoader worker processes for a dataset pair.
        num_classes: the number of classes the config states (``data.num_classes``), or
            ``None`` to infer it from the labels.

    Raises:
        ConfigError: anything else, or targets that break the task's rule, naming ``source``.

    Example:
        >>> x, y = torch.rand(10, 3), torch.tensor([0, 1, 2, 1, 0, 2, 1, 0, 2, 1])
        >>> as_dataset((x, y, x, y), "demo").num_outputs
        3
        >>> as_dataset((x, y, x, y.float()), "demo", task="regression").y_val.dtype
        torch.float32
        >>> pair = torch.utils.data.TensorDataset(x, y), torch.utils.data.TensorDataset(x, y)
        >>> data = as_dataset(pair, "demo", num_workers=2)
        >>> data.input_shape, data.num_outputs, data.train_size, data.num_workers
        ((3,), 3, 10, 2)
    """
    if isinstance(loaded, LoaderData):
        return loaded
    if isinstance(loaded, Dataset):
        tensors = (loaded.x_train, loaded.y_train, loaded.x_val, loaded.y_val)
        _check_tensors(*tensors, source, task, num_classes or loaded.num_outputs)
        return loaded
    if isinstance(loaded, (tuple, list)) and len(loaded) == 2:
        if all(isinstance(part, TorchDataset) for part in loaded):
            return _from_datasets(loaded[0], loaded[1], source, task, num_workers, num_classes)
        if all(hasattr(part, "batch_size") and hasattr(part, "dataset") for part in loaded):
            raise ConfigError(
                f"{source} must return a function loaders(batch_size) -> (train_loader, "
                "val_loader), not the loaders themselves (the batch size is a hyperparameter); "
                "got a pair of DataLoaders"
            )
    if isinstance(loaded, (tuple, list)) and len(loaded) == 4:
        x_train, y_train, x_val, y_val = (
            as_tensor(part, name, source) for part, name in zip(loaded, NPZ_ARRAYS, strict=True)
        )
        return _from_tensors(x_train, y_train, x_val, y_val, source, task, num_classes)
    if callable(loaded):
        return _from_loaders(loaded, source, task, num_classes)
    raise ConfigError(
        f"{source} must return a Dataset, (x_train, y_train, x_val, y_val), (train_dataset, "
        f"val_dataset) or a function loaders(batch_size); got {type(loaded).__name__}"
    )


def _from_tensors(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    source: str,
    task: Task,
    num_classes: int | None = None,
) -> Dataset:
    outputs = _check_tensors(x_train, y_train, x_val, y_val, source, task, num_classes)
    if task == "regression":
        return Dataset(x_train.float(), y_train.float(), x_val.float(), y_val.float(), outputs)
    return Dataset(
        x_train.float(), y_train.long(), x_val.float(), y_val.long(), num_outputs=outputs
    )


def _check_tensors(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    source: str,
    task: Task,
    num_classes: int | None,
) -> int:
    """Checks whole tensors against the data rules; returns the number of outputs."""
    for part, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        check_samples(x, y, part, source)
        check_finite(x, f"x_{part}", source)
        if task == "regression":
            check_regression_targets(y, f"y_{part}", source)
    if task == "regression":
        return _width(y_train)
    labels = [("y_train", y_train), ("y_val", y_val)]
    return count_classes(labels, source, num_classes, len(y_train))


def _width(y: torch.Tensor) -> int:
    """Regression outputs: 1 for targets of shape (N,), k for (N, k)."""
    return 1 if y.ndim == 1 else int(y.shape[1])


def _from_datasets(
    train: TorchDataset[Any],
    val: TorchDataset[Any],
    source: str,
    task: Task,
    num_workers: int,
    num_classes: int | None = None,
) -> LoaderData:
    for part, dataset in (("train", train), ("val", val)):
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            raise ConfigError(
                f"{source}: the {part} dataset must be a map-style Dataset (__len__ and "
                f"__getitem__); got {type(dataset).__name__} (return a function "
                "loaders(batch_size) for an iterable dataset)"
            )
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ConfigError(f"{source}: the {part} dataset must hold samples; got none")
    x, y = _pair(train[0], f"{source}: the train dataset", "samples")
    features = as_tensor(x, "the first training sample's input", source)
    check_finite(features.unsqueeze(0), "the first training sample's input", source)
    if task == "regression":
        target = as_tensor(y, "the first training sample's target", source)
        if target.ndim > 1 or target.dtype == torch.bool:
            raise ConfigError(
                f"{source}: a training sample's target must be a number or a vector of numbers "
                f"for a regression task; got {target.dtype} of shape {tuple(target.shape)}"
            )
        check_finite(target.reshape(1, -1), "the first training sample's target", source)
        num_outputs = target.numel()
    else:
        num_outputs = _num_outputs(
            source,
            (train, val),
            lambda: _sample_labels((train, val), source),
            num_classes,
            len(train),  # type: ignore[arg-type]
        )
    return LoaderData(
        tuple(features.shape),
        num_outputs,
        len(train),  # type: ignore[arg-type]
        datasets=(train, val),
        num_workers=num_workers,
    )


def _from_loaders(
    loaders: Loaders, source: str, task: Task, num_classes: int | None = None
) -> LoaderData:
    built = _loader_pair(loaders(PROBE_BATCH_SIZE), source)
    train_loader = built[0]
    try:
        first = next(iter(train_loader))
    except StopIteration:
        raise ConfigError(f"{source}: the train loader must yield batches; got none") from None
    x, y = _pair(first, f"{source}: the train loader", "batches")
    features = as_tensor(x, "the first training batch's inputs", source)
    if features.ndim == 0:
        raise ConfigError(
            f"{source}: the first training batch's inputs must have one row per sample; got a "
            "single number"
        )
    check_finite(features, "the first training batch's inputs", source)
    sets = [getattr(loader, "dataset", None) for loader in built]
    try:
        train_size = len(sets[0])  # type: ignore[arg-type]
    except TypeError:  # no dataset of known length: count the samples
        train_size = sum(len(targets) for _, targets in train_loader)
    with contextlib.suppress(TypeError):
        if len(sets[1]) == 0:  # type: ignore[arg-type]
            raise ConfigError(f"{source}: the val loader must yield batches; got none")
    if task == "regression":
        targets = as_tensor(y, "a training batch's targets", source)
        check_regression_targets(targets, "a training batch's targets", source)
        num_outputs = _width(targets)
    else:
        num_outputs = _num_outputs(
            source, sets, lambda: _loader_labels(built, source), num_classes, train_size
        )
    input_shape = tuple(features.shape[1:])
    data = LoaderData(input_shape, num_outputs, train_size, loaders=loaders)
    _LOADERS.clear()
    _LOADERS[data.key] = (PROBE_BATCH_SIZE, built)  # the checks start at this batch size
    return data


def _loader_pair(built: Any, source: str) -> tuple[Iterable[Batch], Iterable[Batch]]:
    if not (
        isinstance(built, (tuple, list))
        and len(built) == 2
        and all(isinstance(part, Iterable) for part in built)
    ):
        raise ConfigError(
            f"{source} must return (train_loader, val_loader); got {type(built).__name__}"
        )
    return built[0], built[1]


def _pair(item: Any, where: str, kind: str) -> tuple[Any, Any]:
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        raise ConfigError(
            f"{where} must yield (input, target) {kind}; got {type(item).__name__}"
            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        )
    return item[0], item[1]


def _num_outputs(
    source: str,
    datasets: Sequence[Any],
    read_labels: Callable[[], Sequence[torch.Tensor]],
    num_classes: int | None,
    train_size: int,
) -> int:
    """The number of classes: ``num_classes`` when stated, else the training set's ``.classes``,
    else the largest label of ``.targets`` (or, without them, of ``read_labels()``) + 1; labels
    read are checked against it (:func:`raytune_hp.data_sanity.count_classes`)."""
    classes = _attribute(datasets[0], "classes")
    if num_classes is None and classes is not None and len(classes) > 0:
        return len(classes)
    labels = [_attribute(dataset, "targets") for dataset in datasets]
    if any(label is None for label in labels):
        labels = list(read_labels())
    names = ("y_train (the datasets' labels)", "y_val (the datasets' labels)")
    tensors = [
        (name, as_tensor(label, name, source)) for name, label in zip(names, labels, strict=True)
    ]
    for name, tensor in tensors:
        if tensor.ndim == 1 and len(tensor) == 0:
            raise ConfigError(f"{source}: {name} must hold at least one sample; got none")
    return count_classes(tensors, source, num_classes, train_size)


def _attribute(dataset: Any, name: str) -> Any:
    """``dataset.<name>``, looked up through ``Subset``\\ s (targets indexed by the subset)."""
    if isinstance(dataset, Subset):
        inner = _attribute(dataset.dataset, name)
        if inner is None or name != "targets":
            return inner
        return torch.as_tensor(inner)[torch.as_tensor(dataset.indices, dtype=torch.long)]
    return getattr(dataset, name, None)


def _sample_labels(datasets: Sequence[TorchDataset[Any]], source: str) -> list[torch.Tensor]:
    """Every sample's label, read one sample at a time."""
    return [
        as_tensor([dataset[i][1] for i in range(len(dataset))], "a sample's label", source)  # type: ignore[arg-type]
        for dataset in datasets
    ]


def _loader_labels(
    built: tuple[Iterable[Batch], Iterable[Batch]], source: str
) -> list[torch.Tensor]:
    """Every batch's labels, one pass over each loader; a loader that yields none is refused."""
    labels = []
    for part, loader in zip(("train", "val"), built, strict=True):
        batches = [as_tensor(targets, f"a {part} batch's targets", source) for _, targets in loader]
        if not batches:
            raise ConfigError(f"{source}: the {part} loader must yield batches; got none")
        labels.append(
            torch.cat([batch.reshape(-1) if batch.ndim == 0 else batch for batch in batches])
        )
    return labels
