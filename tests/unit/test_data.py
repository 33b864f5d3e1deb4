"""The data: the built-in sets' shapes, ranges, and splits that depend only on the seed and are
stratified; and what a user's loader may return, measured and checked once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, random_split

from raytune_hp.data import LOADERS, Dataset, LoaderData, as_dataset, load_data, load_npz
from raytune_hp.errors import ConfigError


@pytest.fixture(scope="module")
def sequences() -> Dataset:
    return load_data("digits_sequences", val_fraction=0.2, seed=0)


def test_loaders_are_registered() -> None:
    assert {"digits", "digits_sequences"} <= set(LOADERS)


def test_digits_are_one_channel_images(digits: Dataset) -> None:
    assert digits.input_shape == (1, 8, 8)
    assert digits.x_train.dtype == torch.float32
    assert len(digits.x_train) + len(digits.x_val) == 1797


def test_digits_sequences_are_rows_of_pixels(sequences: Dataset) -> None:
    assert sequences.input_shape == (8, 8)
    assert sequences.x_train.dim() == sequences.x_val.dim() == 3
    assert sequences.x_train.dtype == torch.float32
    assert sequences.num_outputs == 10
    for x in (sequences.x_train, sequences.x_val):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert sequences.x_train.max() == 1.0  # scaled by 16, the pixels' top value


def test_digits_sequences_have_the_samples_and_split_of_digits(
    digits: Dataset, sequences: Dataset
) -> None:
    assert torch.equal(sequences.y_train, digits.y_train)
    assert torch.equal(sequences.y_val, digits.y_val)
    assert torch.equal(sequences.x_train, digits.x_train.squeeze(1))
    assert torch.equal(sequences.x_val, digits.x_val.squeeze(1))


@pytest.mark.parametrize("name", ["digits", "digits_sequences"])
def test_same_seed_same_split_other_seed_other_split(name: str) -> None:
    first = load_data(name, val_fraction=0.2, seed=0)
    again = load_data(name, val_fraction=0.2, seed=0)
    other = load_data(name, val_fraction=0.2, seed=1)
    assert torch.equal(first.x_val, again.x_val) and torch.equal(first.y_val, again.y_val)
    assert not torch.equal(first.x_val, other.x_val)


@pytest.mark.parametrize("name", ["digits", "digits_sequences"])
def test_split_is_stratified(name: str) -> None:
    data = load_data(name, val_fraction=0.2, seed=0)
    val_counts = torch.bincount(data.y_val, minlength=10)
    train_counts = torch.bincount(data.y_train, minlength=10)
    assert (val_counts > 0).all()
    # Stratified: each class's share of the validation set matches its share of the whole.
    fraction = val_counts / (val_counts + train_counts)
    assert torch.allclose(fraction, torch.full((10,), 0.2), atol=0.01)


# --- what a user's loader may return ----------------------------------------------------------


def _tensors(y_train: Any, y_val: Any) -> tuple[torch.Tensor, ...]:
    return (
        torch.rand(len(y_train), 3),
        torch.as_tensor(y_train),
        torch.rand(len(y_val), 3),
        (torch.as_tensor(y_val)),
    )


def test_classification_labels_are_whole_numbers_and_give_the_classes() -> None:
    data = as_dataset(_tensors([0.0, 1.0, 4.0], [2, 1]), "test")
    assert isinstance(data, Dataset)
    assert data.num_outputs == 5 and data.y_train.dtype == torch.long  # the largest label + 1
    with pytest.raises(ConfigError) as error:
        as_dataset(_tensors([0.0, 0.5, 1.0], [1, 0]), "data.loader m:load")
    assert str(error.value) == (
        "data.loader m:load: y_train must be integer class indices ≥ 0, one per sample (1-D) for "
        "a classification task; got torch.float32 with 0.5 at index 1 (not a whole number)"
    )
    with pytest.raises(
        ConfigError, match=r"y_val must be integer class .* the label -1 at index 0$"
    ):
        as_dataset(_tensors([0, 1], [-1, 1]), "test")


def test_regression_targets_are_floats_and_their_width_is_the_outputs() -> None:
    wide = as_dataset(_tensors(torch.rand(4, 2).double(), torch.rand(2, 2)), "t", task="regression")
    assert isinstance(wide, Dataset) and wide.num_outputs == 2
    assert wide.y_train.dtype == wide.y_val.dtype == torch.float32
    narrow = as_dataset(_tensors([1, 2, 3], [4, 5]), "t", task="regression")
    assert narrow.num_outputs == 1 and narrow.y_train.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(
        ConfigError, match=r"t: y_train must be numbers of shape \(N,\) or \(N, k\)"
    ):
        as_dataset(_tensors(torch.rand(4, 2, 2), torch.rand(2, 2)), "t", task="regression")


def test_anything_else_is_one_line_naming_the_source() -> None:
    with pytest.raises(ConfigError) as error:
        as_dataset({"x": 1}, "data.loader m:load")
    assert str(error.value) == (
        "data.loader m:load must return a Dataset, (x_train, y_train, x_val, y_val), "
        "(train_dataset, val_dataset) or a function loaders(batch_size); got dict"
    )
    pair = TensorDataset(torch.rand(4, 3), torch.arange(4))
    with pytest.raises(ConfigError, match=r"must return a function loaders\(batch_size\)"):
        as_dataset((DataLoader(pair), DataLoader(pair)), "data.loader m:load")
    with pytest.raises(ConfigError, match="x_train must have one row per target of y_train"):
        as_dataset((torch.rand(3, 2), torch.arange(4), torch.rand(1, 2), torch.arange(1)), "t")


class _Stream(IterableDataset[tuple[torch.Tensor, torch.Tensor]]):
    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield torch.zeros(3), torch.tensor(0)


def test_an_iterable_dataset_is_pointed_to_the_loaders_function() -> None:
    pair = TensorDataset(torch.rand(4, 3), torch.arange(4))
    with pytest.raises(ConfigError) as error:
        as_dataset((_Stream(), pair), "t")
    assert str(error.value).startswith(
        "t: the train dataset must be a map-style Dataset (__len__ and __getitem__); got _Stream"
    )


class _Counted(TensorDataset):
    """A dataset pair's part that counts its reads, with the attributes torchvision's have."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, **attributes: Any) -> None:
        super().__init__(x, y)
        self.reads = 0
        self.__dict__.update(attributes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        self.reads += 1
        return super().__getitem__(index)


def test_a_dataset_pairs_classes_come_from_its_attributes_else_from_one_pass() -> None:
    x, y = torch.rand(30, 2, 5), torch.arange(30) % 4
    named = _Counted(x, y, classes=["a", "b", "c", "d", "e"])  # a class no sample has
    data = as_dataset((named, _Counted(x, y)), "t")
    assert isinstance(data, LoaderData)
    assert (data.input_shape, data.num_outputs, data.train_size) == ((2, 5), 5, 30)
    assert named.reads == 1  # the first sample, for the input shape
    train, val = random_split(_Counted(x, y, targets=y), [20, 10])
    assert as_dataset((train, val), "t").num_outputs == 4  # .targets through the Subsets
    plain_train, plain_val = _Counted(x, y), _Counted(x[:5], y[:5])
    assert as_dataset((plain_train, plain_val), "t").num_outputs == 4
    assert (plain_train.reads, plain_val.reads) == (1 + 30, 5)  # one pass over both
    with pytest.raises(ConfigError, match=r"y_train \(the datasets' labels\) must be integer"):
        as_dataset((_Counted(x, y - 1), _Counted(x, y)), "t")


def test_a_regression_pairs_outputs_are_its_targets_width() -> None:
    pair = TensorDataset(torch.rand(8, 3), torch.rand(8, 2))
    data = as_dataset((pair, pair), "t", task="regression")
    assert (data.input_shape, data.num_outputs) == ((3,), 2)


def test_a_loaders_function_is_measured_from_its_first_batch_and_its_datasets() -> None:
    x, y = torch.rand(50, 6), torch.arange(50) % 7

    def loaders(batch_size: int) -> tuple[DataLoader[Any], DataLoader[Any]]:
        dataset = TensorDataset(x, y)
        return DataLoader(dataset, batch_size, shuffle=True), DataLoader(dataset, batch_size)

    data = as_dataset(loaders, "t")
    assert isinstance(data, LoaderData)
    assert (data.input_shape, data.num_outputs, data.train_size) == ((6,), 7, 50)
    assert data.steps_per_epoch(16) == 4  # the loader's own length
    regression = as_dataset(
        lambda size: ([(x, y.float())], [(x, y.float())]), "t", task="regression"
    )
    assert (regression.num_outputs, regression.train_size) == (1, 50)
    with pytest.raises(ConfigError, match=r"^t must return \(train_loader, val_loader\); got int"):
        as_dataset(lambda size: 3, "t")
    with pytest.raises(ConfigError, match=r"the train loader must yield \(input, target\) batches"):
        as_dataset(lambda size: ([x], [x]), "t")


def test_the_loop_reads_every_form_through_one_protocol(digits: Dataset) -> None:
    pair = as_dataset(
        (TensorDataset(digits.x_train, digits.y_train), TensorDataset(digits.x_val, digits.y_val)),
        "t",
    )
    for data in (digits, pair):
        assert (data.input_shape, data.num_outputs, data.train_size) == ((1, 8, 8), 10, 1437)
        assert data.steps_per_epoch(128) == 12
        epoch = list(data.train_batches(128, torch.Generator().manual_seed(0)))
        assert sum(len(y) for _, y in epoch) == 1437 and len(epoch[0][1]) == 128
        assert torch.cat([y for _, y in epoch]).sort().values.equal(digits.y_train.sort().values)
        val = torch.cat([y for _, y in data.eval_batches("val", 128)])
        assert torch.equal(val, digits.y_val)  # in order


def test_an_npz_file_holds_regression_targets_the_digits_do_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((20, 3)), "x_val": rng.random((5, 3))}
    np.savez(tmp_path / "r.npz", **arrays, y_train=rng.random((20, 2)), y_val=rng.random((5, 2)))
    data = load_npz(tmp_path / "r.npz", task="regression")
    assert data.num_outputs == 2 and data.y_train.dtype == torch.float32
    with pytest.raises(ConfigError, match=r"y_train must be integer class indices"):
        load_npz(tmp_path / "r.npz")
    with pytest.raises(ConfigError) as error:
        load_data("digits", 0.2, 0, task="regression")
    assert str(error.value) == (
        "train.task must be classification for data.name digits (digit classes); got regression"
    )
