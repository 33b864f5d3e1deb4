"""A trial without Ray: it learns, it is reproducible, it resumes exactly, it logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata

from raytune_hp.data import Dataset
from raytune_hp.metrics import DIVERGED, OUT_OF_MEMORY, VAL_ACC
from raytune_hp.models import build_model
from raytune_hp.trainable import TrialSettings, train

HP: dict[str, Any] = {
    "optimizer": "adam",
    "lr": 3e-3,
    "batch_size": 64,
    "dropout": 0.3,
    "weight_decay": 1e-5,
    "kernel_size": 3,
    "num_kernels": 100,
    "num_layers": 1,
}


def _run(
    data: Dataset,
    log_dir: Path,
    epochs: int,
    hp: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    metrics: list[dict[str, Any]] = []
    states: list[dict[str, Any]] = []

    def report(m: dict[str, Any], s: dict[str, Any]) -> None:
        metrics.append(m)
        states.append(s)

    train(hp or HP, data, TrialSettings("cnn", max_epochs=epochs, seed=7), log_dir, report, state)
    return metrics, states


def test_trial_learns_digits(digits: Dataset, tmp_path: Path) -> None:
    metrics, _ = _run(digits, tmp_path, epochs=4)
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4]
    assert metrics[-1]["val_acc"] > 0.9
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert not any(m[DIVERGED] for m in metrics)


def test_same_configuration_and_seed_give_the_same_metrics(digits: Dataset, tmp_path: Path) -> None:
    first, _ = _run(digits, tmp_path / "a", epochs=2)
    second, _ = _run(digits, tmp_path / "b", epochs=2)
    assert first == second


def test_resuming_from_a_state_continues_exactly(digits: Dataset, tmp_path: Path) -> None:
    whole, _ = _run(digits, tmp_path / "whole", epochs=3)
    head, states = _run(digits, tmp_path / "head", epochs=1)
    # What a checkpoint holds must survive torch.load(weights_only=True).
    path = tmp_path / "state.pt"
    torch.save(states[-1], path)
    state = torch.load(path, weights_only=True)
    tail, _ = _run(digits, tmp_path / "tail", epochs=3, state=state)
    assert [m["epoch"] for m in tail] == [2, 3]
    assert head + tail == whole


def test_a_diverging_trial_ends_itself_marked_diverged(digits: Dataset, tmp_path: Path) -> None:
    metrics, _ = _run(digits, tmp_path, epochs=5, hp={**HP, "optimizer": "sgd", "lr": 1e12})
    assert metrics[-1][DIVERGED] is True
    assert len(metrics) < 5


def test_trial_writes_step_and_epoch_scalars_and_hparams(digits: Dataset, tmp_path: Path) -> None:
    metrics, _ = _run(digits, tmp_path, epochs=2)
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    events.Reload()
    steps_per_epoch = -(-len(digits.x_train) // HP["batch_size"])
    assert len(events.Scalars("train_loss")) == 2 * steps_per_epoch
    assert len(events.Scalars("lr")) == 2 * steps_per_epoch
    assert events.Scalars("lr")[0].value == pytest.approx(HP["lr"])
    assert [s.step for s in events.Scalars("val_acc")] == [1, 2]
    assert events.Scalars("val_acc")[-1].value == pytest.approx(metrics[-1]["val_acc"])

    hparam_tags = events.PluginTagToContent("hparams")
    start = hparams_metadata.parse_session_start_info_plugin_data(
        hparam_tags[hparams_metadata.SESSION_START_INFO_TAG]
    )
    logged = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    assert logged == pytest.approx(HP)
    # The whole budget was trained: the session is marked as ended.
    assert hparams_metadata.SESSION_END_INFO_TAG in hparam_tags


def test_bf16_trains_under_autocast_to_the_same_accuracy(digits: Dataset, tmp_path: Path) -> None:
    runs: dict[str, list[dict[str, Any]]] = {"fp32": [], "bf16": []}
    for precision, metrics in runs.items():
        settings = TrialSettings("cnn", max_epochs=3, seed=7, precision=precision)
        train(HP, digits, settings, tmp_path / precision, lambda m, _, out=metrics: out.append(m))
    assert runs["bf16"][-1][VAL_ACC] > 0.9
    assert abs(runs["bf16"][-1][VAL_ACC] - runs["fp32"][-1][VAL_ACC]) < 0.03
    # bfloat16 forward passes round differently: the losses are not float32's.
    assert runs["bf16"][-1]["train_loss"] != runs["fp32"][-1]["train_loss"]


class _Hungry(torch.nn.Module):
    """A model whose training batches above 32 images run out of (GPU) memory."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = build_model("cnn", HP, (1, 8, 8), 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and len(x) > 32:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def test_a_trial_out_of_memory_ends_alone_with_a_clear_record(
    digits: Dataset, tmp_path: Path
) -> None:
    settings = TrialSettings("cnn", max_epochs=3, seed=7, builder=lambda *_: _Hungry())
    metrics: list[dict[str, Any]] = []
    train(
        {**HP, "batch_size": 64}, digits, settings, tmp_path / "big", lambda m, _: metrics.append(m)
    )
    assert len(metrics) == 1
    assert metrics[0][VAL_ACC] == 0.0
    assert "batch_size 64" in metrics[0][OUT_OF_MEMORY]
    assert "Tried to allocate 2.00 GiB" in metrics[0][OUT_OF_MEMORY]
    # The next trial in the same process trains normally.
    after: list[dict[str, Any]] = []
    train(
        {**HP, "batch_size": 32}, digits, settings, tmp_path / "small", lambda m, _: after.append(m)
    )
    assert [m["epoch"] for m in after] == [1, 2, 3]
    assert OUT_OF_MEMORY not in after[-1]
