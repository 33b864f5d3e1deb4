"""The data loaders: shapes, ranges, and splits that depend only on the seed and are stratified."""

from __future__ import annotations

import pytest
import torch

from raytune_hp.data import LOADERS, Dataset, load_data


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
    assert sequences.num_classes == 10
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
