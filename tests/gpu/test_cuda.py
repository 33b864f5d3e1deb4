"""On a real NVIDIA GPU: trials train there with their data on the device (or, read by
DataLoaders, from pinned batches), bf16 works, a share of the GPU caps a trial's memory, and four
quarter-GPU trials run on one GPU at once. Skipped where
torch sees no GPU (CI); run on a GPU machine with ``pytest -m gpu``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import TensorDataset

from raytune_hp.config import load_config
from raytune_hp.data import LoaderData, as_dataset, load_data
from raytune_hp.devices import limit_gpu_memory, place_data
from raytune_hp.metrics import COMPUTE_DTYPE, GPU_SHARE, VAL_ACC
from raytune_hp.trainable import TrialSettings, train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU"),
]

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
HP: dict[str, Any] = {
    "optimizer": "adam", "lr": 3e-3, "batch_size": 64, "dropout": 0.3, "weight_decay": 1e-5,
    "kernel_size": 3, "num_kernels": 100, "num_layers": 1,
}  # fmt: skip


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_trial_learns_on_the_gpu(precision: str, tmp_path: Path) -> None:
    data = load_data("digits", 0.2, seed=0)
    metrics: list[dict[str, Any]] = []
    settings = TrialSettings("cnn", max_epochs=4, seed=0, precision=precision)
    train(HP, data, settings, tmp_path, lambda m, _: metrics.append(m))
    assert metrics[-1][VAL_ACC] > 0.9


def test_a_dataset_that_fits_is_moved_to_the_gpu_once() -> None:
    data = load_data("digits", 0.2, seed=0)
    placed = place_data(data, torch.device("cuda:0"))
    assert placed.x_train.is_cuda and placed.y_val.is_cuda
    kept = place_data(data, torch.device("cuda:0"), budget_bytes=1024)
    assert not kept.x_train.is_cuda and kept.x_train.is_pinned()


def test_a_dataset_pair_trains_on_the_gpu_from_pinned_batches_in_bf16(tmp_path: Path) -> None:
    data = load_data("digits", 0.2, seed=0)
    parts = (data.x_train, data.y_train), (data.x_val, data.y_val)
    pair = as_dataset(tuple(TensorDataset(x, y) for x, y in parts), "test")
    placed = place_data(pair, torch.device("cuda:0"))
    assert isinstance(placed, LoaderData)
    inputs, _ = next(iter(placed.train_batches(64, torch.Generator().manual_seed(0))))
    assert inputs.is_pinned()
    metrics: list[dict[str, Any]] = []
    settings = TrialSettings("cnn", max_epochs=4, seed=0, precision="bf16")
    train(HP, pair, settings, tmp_path, lambda m, _: metrics.append(m))
    assert metrics[-1][VAL_ACC] > 0.9
    assert metrics[-1][COMPUTE_DTYPE] == "torch.bfloat16"


def test_a_share_of_the_gpu_caps_what_the_process_may_allocate() -> None:
    device = torch.device("cuda:0")
    cap = limit_gpu_memory(0.25, device)
    assert cap is not None
    try:
        with pytest.raises(torch.cuda.OutOfMemoryError):
            torch.empty(int(cap * 1.2), dtype=torch.uint8, device=device)
        torch.empty(int(cap * 0.5), dtype=torch.uint8, device=device)  # within the share
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()


def test_four_quarter_gpu_trials_share_the_gpu(tmp_path: Path) -> None:
    from raytune_hp.experiment import run_experiment

    config = load_config(
        QUICKSTART,
        [
            "name=shared", f"storage={tmp_path}", "search.num_samples=4", "train.max_epochs=3",
            "early_stopping.name=none", "resources.gpus_per_trial=0.25",
            "search.max_concurrent=4", "space.batch_size=256",
        ],
    )  # fmt: skip
    outcome = run_experiment(config)
    assert [t.status for t in outcome.trials] == ["completed"] * 4
    results = [
        json.loads(line)
        for path in outcome.exp_dir.rglob("result.json")
        for line in path.read_text().splitlines()
    ]
    assert {r[GPU_SHARE] for r in results} == {0.25}
    assert {r["gpu_ids"] for r in results} == {"0"}
    assert {r["device"] for r in results} == {"cuda:0"}
