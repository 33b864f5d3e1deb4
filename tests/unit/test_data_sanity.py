"""The data rules, as a user's loader meets them through :func:`raytune_hp.data.as_dataset`: each
break is one line naming the split, what must hold and what was found."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from raytune_hp.config import MAX_CLASSES, config_from
from raytune_hp.data import Dataset, LoaderData, as_dataset
from raytune_hp.errors import ConfigError

SOURCE = "data.loader m:load"


def arrays(y_train: object = None, y_val: object = None) -> tuple[object, ...]:
    rng = np.random.default_rng(0)
    return (
        rng.random((20, 3)),
        rng.integers(0, 4, 20) if y_train is None else y_train,
        rng.random((5, 3)),
        np.array([0, 1, 2, 3, 0]) if y_val is None else y_val,
    )


def refusal(loaded: object, **options: object) -> str:
    with pytest.raises(ConfigError) as info:
        as_dataset(loaded, SOURCE, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{SOURCE}: "), message
    return message.removeprefix(f"{SOURCE}: ")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_unsigned_labels_are_read_as_class_indices(dtype: type) -> None:
    data = as_dataset(arrays(np.arange(20, dtype=dtype) % 4, np.arange(5, dtype=dtype)), SOURCE)
    assert isinstance(data, Dataset)
    assert data.y_train.dtype == torch.long and data.num_outputs == 5


def test_whole_float_labels_are_class_indices() -> None:
    data = as_dataset(arrays(np.arange(20.0) % 4), SOURCE)
    assert isinstance(data, Dataset) and data.y_train.tolist()[:5] == [0, 1, 2, 3, 0]


def test_a_stated_number_of_classes_is_the_number_of_outputs() -> None:
    data = as_dataset(arrays(), SOURCE, num_classes=12)
    assert data.num_outputs == 12
    message = refusal(arrays(), num_classes=3)
    assert message.startswith(
        "y_train must be class indices below data.num_classes (3); got the label 3 at index "
    )


def test_a_stray_label_is_refused_before_a_model_is_built() -> None:
    y = np.zeros(20, dtype=np.int64)
    y[11] = 10**6
    assert refusal(arrays(y)) == (
        "y_train must be class indices below 1000 (the number of classes, the largest label + "
        "1, is at most the training samples (20) or 1000, and at most 100000, unless "
        "data.num_classes states it); got the label 1000000 at index 11"
    )


def test_many_classes_need_many_samples_or_a_statement() -> None:
    x = np.zeros((3000, 2))
    y = np.arange(3000)
    data = as_dataset((x, y, x[:2], y[:2]), SOURCE)
    assert data.num_outputs == 3000  # one sample a class: still plausible
    x, y = np.zeros((MAX_CLASSES * 2, 1), dtype=np.float32), np.arange(MAX_CLASSES * 2)
    assert "below 100000 " in refusal((x, y, x[:2], y[:2]))


def test_labels_of_the_wrong_shape_or_kind_are_refused() -> None:
    assert refusal(arrays(np.zeros((20, 2)))).endswith("got torch.float64 of shape (20, 2)")
    assert refusal(arrays(np.array([b"a"] * 20))).endswith("got bytes, such as b'a'")
    assert refusal(arrays(None, np.array([0, 1, 2, 3, np.inf]))) == (
        "y_val must be finite numbers; got 0 NaN and 1 infinite values, the first in sample 4"
    )
    complex_labels = np.zeros(20, dtype=np.complex64)
    assert refusal(arrays(complex_labels)) == "y_train must be real numbers; got torch.complex64"


def test_features_that_are_not_numbers_are_refused() -> None:
    x, y, xv, yv = arrays()
    assert refusal((np.array([["a", "b", "c"]] * 20), y, xv, yv)) == (
        "x_train must be numbers; got strings, such as 'a'"
    )
    assert refusal((x, y, torch.tensor(1.0), yv)).startswith(
        "x_val must have one row per target of y_val (5), at least one; got a single number"
    )


def test_a_list_of_tensors_is_stacked() -> None:
    x, y, xv, yv = arrays()
    rows = [torch.tensor(row, dtype=torch.float32) for row in x]
    data = as_dataset((rows, y, xv, yv), SOURCE)
    assert isinstance(data, Dataset) and data.x_train.shape == (20, 3)


def test_a_dataset_handed_over_is_checked_too() -> None:
    x = torch.zeros(4, 2)
    x[2, 1] = float("nan")
    y = torch.tensor([0, 1, 0, 1])
    assert refusal(Dataset(x, y, torch.zeros(2, 2), y[:2], num_outputs=2)) == (
        "x_train must be finite numbers; got 1 NaN and 0 infinite values, the first in sample 2"
    )
    zeros = torch.zeros(4, 2)
    bad = Dataset(zeros, torch.tensor([0, 1, 5, 1]), zeros[:2], y[:2], num_outputs=2)
    assert refusal(bad) == (
        "y_train must be class indices below data.num_classes (2); got the label 5 at index 2"
    )


def test_a_dataset_pair_is_checked_on_its_first_sample_and_its_labels() -> None:
    x, y = torch.rand(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    nan = x.clone()
    nan[0, 1] = float("nan")
    assert refusal((TensorDataset(nan, y), TensorDataset(x, y))) == (
        "the first training sample's input must be finite numbers; got 1 NaN and 0 infinite "
        "values, the first in sample 0"
    )
    stray = y.clone()
    stray[3] = 10**6
    assert "got the label 1000000 at index 3" in refusal(
        (TensorDataset(x, y), TensorDataset(x, stray))
    )
    data = as_dataset((TensorDataset(x, y), TensorDataset(x, y)), SOURCE, num_classes=7)
    assert isinstance(data, LoaderData) and data.num_outputs == 7


def test_loaders_are_checked_on_their_first_batch_and_their_labels() -> None:
    x, y = torch.rand(8, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def empty_val(batch_size: int) -> tuple[DataLoader[object], DataLoader[object]]:
        return DataLoader(TensorDataset(x, y), batch_size), DataLoader(
            TensorDataset(x[:0], y[:0]), batch_size
        )

    assert refusal(empty_val) == "the val loader must yield batches; got none"

    def generators(batch_size: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], ...]:
        return [(x, y)], []

    assert refusal(generators) == "the val loader must yield batches; got none"

    def inf_batch(batch_size: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], ...]:
        bad = x.clone()
        bad[5, 0] = float("inf")
        return [(bad, y)], [(x, y)]

    assert refusal(inf_batch) == (
        "the first training batch's inputs must be finite numbers; got 0 NaN and 1 infinite "
        "values, the first in sample 5"
    )


def test_regression_targets_must_be_finite() -> None:
    x, _, xv, _ = arrays()
    y = np.linspace(0, 1, 20)
    y[3] = np.nan
    assert refusal((x, y, xv, np.zeros(5)), task="regression") == (
        "y_train must be finite numbers; got 1 NaN and 0 infinite values, the first in sample 3"
    )


def test_num_classes_is_a_classification_key() -> None:
    config = config_from({"name": "x", "data": {"loader": "json:loads", "num_classes": 5}})
    assert config.data.num_classes == 5
    with pytest.raises(ConfigError, match=r"data\.num_classes must be ≤ 100000; got 100001"):
        config_from({"name": "x", "data": {"loader": "json:loads", "num_classes": 100_001}})
    with pytest.raises(ConfigError, match=r"data\.num_classes must be left out for data.name dig"):
        config_from({"name": "x", "data": {"num_classes": 5}})
    with pytest.raises(ConfigError, match=r"data\.num_classes must be left out for a regression"):
        config_from(
            {
                "name": "x",
                "data": {"loader": "json:loads", "num_classes": 5},
                "train": {"task": "regression"},
            }
        )
