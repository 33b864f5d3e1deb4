"""Where a trial computes, on the CPU: a fraction of a GPU is the trial's share, and nothing is
capped or moved where there is no GPU (tests/gpu checks the GPU side)."""

from __future__ import annotations

import pytest
import torch

from raytune_hp.data import Dataset
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
