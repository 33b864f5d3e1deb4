"""Where a trial computes, on the CPU: a fraction of a GPU is the trial's share, and nothing is
capped or moved where there is no GPU (tests/gpu checks the GPU side), and data read by
DataLoaders is only ever pinned."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from raytune_hp.data import Dataset, LoaderData, as_dataset
from raytune_hp.devices import gpu_share, limit_gpu_memory, place_data


@pytest.mark.parametrize(
    ("gpus", "share"), [(0.25, 0.25), (0.5, 0.5), (1, 1.0), (2, 1.0), (0, 1.0)]
)
def test_a_fraction_of_a_gpu_is_the_trials_share(gpus: float, share: float) -> None:
    assert gpu_share(gpus) == share


def test_on_the_cpu_nothing_is_capped_or_moved(digits: Dataset) -> None:
    cpu = torch.device("cpu")
    assert limit_gpu_memory(0.25, cpu) is None
    assert place_data(digits, cpu) is digits


def test_data_read_by_dataloaders_stays_in_host_memory_pinned_for_a_gpu() -> None:
    part = TensorDataset(torch.rand(4, 3), torch.arange(4))
    pair = as_dataset((part, part), "test")
    assert isinstance(pair, LoaderData)
    assert place_data(pair, torch.device("cpu")) is pair
    # Only a flag: the batches are pinned as the DataLoader reads them, so no GPU is needed here.
    pinned = place_data(pair, torch.device("cuda:0"))
    assert pinned.pin_memory and pinned.datasets is pair.datasets and pinned.key == pair.key
    users = as_dataset(lambda size: ([(torch.rand(2, 3), torch.arange(2))],) * 2, "test")
    assert place_data(users, torch.device("cuda:0")) is users  # their loaders, their choice
