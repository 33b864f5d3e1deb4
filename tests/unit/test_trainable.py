"""A trial without Ray: it learns (classification and regression, with the task's loss or the
user's), it is reproducible, it resumes exactly, it logs, and it reads data from tensors or from
DataLoaders every epoch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hparams_metadata
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data import Dataset as TorchDataset

from raytune_hp.data import Dataset, LoaderData, as_dataset
from raytune_hp.metrics import (
    COMPUTE_DTYPE,
    DIVERGED,
    OUT_OF_MEMORY,
    SKIPPED,
    VAL_ACC,
    VAL_LOSS,
    VAL_MAE,
    VAL_RMSE,
)
from raytune_hp.models import build_model
from raytune_hp.trainable import TrialSettings, run_function, train

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
    data: Dataset | LoaderData,
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
    # How it ended is the driver's to write (it alone knows when ASHA stops a trial).
    assert hparams_metadata.SESSION_END_INFO_TAG not in hparam_tags


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


# --- tasks and losses -------------------------------------------------------------------------

MLP: dict[str, Any] = {
    "optimizer": "adam", "lr": 3e-3, "batch_size": 32, "hidden_size": 64, "num_layers": 1,
    "dropout": 0.0,
}  # fmt: skip


def _train(
    data: Any, log_dir: Path, settings: TrialSettings, hp: dict[str, Any] = MLP
) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = []
    train(hp, data, settings, log_dir, lambda m, _: metrics.append(m))
    return metrics


def test_a_regression_trial_learns_and_reports_its_errors(
    regression: Dataset, tmp_path: Path
) -> None:
    settings = TrialSettings("mlp", max_epochs=5, seed=0, task="regression")
    metrics = _train(regression, tmp_path, settings)
    last = metrics[-1]
    assert {VAL_LOSS, VAL_RMSE, VAL_MAE} <= set(last) and VAL_ACC not in last
    assert last[VAL_RMSE] < 0.3 * float(regression.y_val.std())  # well below guessing the mean
    assert last[VAL_LOSS] == pytest.approx(last[VAL_RMSE] ** 2)  # val_loss is the MSE
    assert last[VAL_MAE] <= last[VAL_RMSE]
    assert metrics[0][VAL_RMSE] > last[VAL_RMSE]


def test_one_target_of_shape_n_takes_a_model_with_one_output(
    regression: Dataset, tmp_path: Path
) -> None:
    single = Dataset(
        regression.x_train, regression.y_train[:, 0], regression.x_val, regression.y_val[:, 0], 1
    )
    settings = TrialSettings("mlp", max_epochs=3, seed=0, task="regression")
    assert _train(single, tmp_path, settings)[-1][VAL_RMSE] < 0.3 * float(single.y_val.std())


def test_a_users_loss_trains_the_model_and_is_the_val_loss(
    regression: Dataset, tmp_path: Path
) -> None:
    calls = {"training": 0, "evaluation": 0}

    def mean_absolute_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls["training" if torch.is_grad_enabled() else "evaluation"] += 1
        return (outputs - targets).abs().mean()

    settings = TrialSettings(
        "mlp", max_epochs=2, seed=0, task="regression", loss=mean_absolute_error
    )
    metrics = _train(regression, tmp_path, settings)
    assert calls == {"training": 2 * 25, "evaluation": 2 * 1}  # 800 / 32 steps; one val chunk
    assert metrics[-1][VAL_LOSS] == pytest.approx(metrics[-1][VAL_MAE])  # the user's loss
    assert metrics[-1][VAL_RMSE] ** 2 != pytest.approx(metrics[-1][VAL_LOSS])
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]


def test_a_users_loss_keeps_a_classifications_accuracy(digits: Dataset, tmp_path: Path) -> None:
    def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs, targets)

    own = TrialSettings("mlp", max_epochs=2, seed=0, loss=cross_entropy)
    mine = _train(digits, tmp_path / "own", own)
    builtin = _train(digits, tmp_path / "builtin", TrialSettings("mlp", max_epochs=2, seed=0))
    # The same loss, passed in: the same run, within float rounding.
    for key in ("train_loss", VAL_LOSS, VAL_ACC):
        assert mine[-1][key] == pytest.approx(builtin[-1][key], rel=1e-4), key


def test_records_of_trials_that_did_not_train_hold_the_worst_of_every_metric(
    regression: Dataset, digits: Dataset, tmp_path: Path
) -> None:
    skipped = _train(
        regression,
        tmp_path / "skipped",
        TrialSettings("mlp", max_epochs=2, seed=0, task="regression", max_params=10),
    )
    assert (
        skipped == [skipped[0] | {VAL_LOSS: 1e9, VAL_RMSE: 1e9, VAL_MAE: 1e9, SKIPPED: True}]
        and VAL_ACC not in skipped[0]
    )
    diverged = _train(
        digits,
        tmp_path / "diverged",
        TrialSettings("mlp", max_epochs=3, seed=0),
        hp={**MLP, "optimizer": "sgd", "lr": 1e12},
    )
    assert diverged[-1][DIVERGED] and diverged[-1][VAL_ACC] == 0.0
    assert diverged[-1][VAL_LOSS] == diverged[-1]["train_loss"] == 1e9


def test_each_epoch_reports_the_dtype_the_forward_pass_computed_in(
    digits: Dataset, tmp_path: Path
) -> None:
    for precision, dtype in (("fp32", "torch.float32"), ("bf16", "torch.bfloat16")):
        settings = TrialSettings("mlp", max_epochs=1, seed=0, precision=precision)
        assert _train(digits, tmp_path / precision, settings)[-1][COMPUTE_DTYPE] == dtype


# --- data read by DataLoaders -----------------------------------------------------------------


class _Augmented(TorchDataset[tuple[torch.Tensor, torch.Tensor]]):
    """Samples ``[i, noise]`` with a fresh random noise at every read (a per-sample transform),
    from a file opened lazily on the first read and closed in every copy, as an HDF5-backed
    dataset must do to be sent to other processes."""

    opened = 0

    def __init__(self, size: int) -> None:
        self.size = size
        self.targets = torch.arange(size) % 3
        self.file: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"file": None}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.file is None:
            type(self).opened += 1
            self.file = "open"
        return torch.tensor([float(index), float(torch.rand(()))]), self.targets[index]


class _Recorder(torch.nn.Module):
    """A linear classifier that records every training input it sees, epoch by epoch."""

    def __init__(self, seen: list[list[torch.Tensor]]) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 3)
        self.seen = seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen[-1].append(x.detach().clone())
        return self.linear(x)


def test_a_dataset_pair_is_read_every_epoch_with_its_transform(tmp_path: Path) -> None:
    data = as_dataset((_Augmented(40), _Augmented(10)), "test")
    assert isinstance(data, LoaderData) and data.input_shape == (2,) and data.num_outputs == 3
    seen: list[list[torch.Tensor]] = []
    settings = TrialSettings("custom", max_epochs=2, seed=0, builder=lambda *_: _Recorder(seen))

    def report(metrics: dict[str, Any], state: dict[str, Any]) -> None:
        seen.append([])

    seen.append([])
    train({**MLP, "batch_size": 8}, data, settings, tmp_path, report)
    epochs = [torch.cat(batches) for batches in seen[:2]]
    assert [len(batches) for batches in seen[:2]] == [5, 5]  # 40 samples, batch size 8
    first, second = (epoch[epoch[:, 0].argsort()] for epoch in epochs)
    assert torch.equal(first[:, 0], torch.arange(40.0))  # every sample once an epoch...
    assert not torch.equal(first[:, 1], second[:, 1])  # ...transformed anew: nothing stacked
    assert not torch.equal(epochs[0][:, 0], epochs[1][:, 0])  # and reshuffled


def test_a_trial_process_keeps_the_datasets_and_loaders_across_trials(tmp_path: Path) -> None:
    # Ray hands each trial its own copy of the experiment's data (deep copies here); a process
    # that runs several trials keeps the first copy's datasets, and builds the user's loaders
    # again only for another batch size.
    built: list[int] = []

    def loaders(batch_size: int) -> tuple[DataLoader[Any], DataLoader[Any]]:
        built.append(batch_size)
        train_set, val_set = _Augmented(40), _Augmented(10)
        return DataLoader(train_set, batch_size, shuffle=True), DataLoader(val_set, batch_size)

    pair = as_dataset((_Augmented(40), _Augmented(10)), "test")
    function = as_dataset(loaders, "test")
    assert built == [128] and function.train_size == 40 and function.num_outputs == 3
    settings = TrialSettings("mlp", max_epochs=2, seed=0)
    for data, opened in ((pair, 2), (function, 2 * 2)):
        _Augmented.opened = 0
        for trial, batch_size in enumerate([16, 16, 32]):
            hp = {**MLP, "batch_size": batch_size}
            _train(copy.deepcopy(data), tmp_path / f"{trial}", settings, hp)
        assert _Augmented.opened == opened  # not 3 × 2: once per dataset built in the process
    assert built == [128, 16, 32]  # each trial's batch size


def test_the_loaders_function_gets_each_trials_batch_size(tmp_path: Path) -> None:
    sizes: list[int] = []

    def loaders(batch_size: int) -> tuple[list[Any], list[Any]]:
        sizes.append(batch_size)
        x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
        batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, 64, batch_size)]
        return batches, batches

    data = as_dataset(loaders, "test")
    assert data.train_size == 64 and data.input_shape == (4,)  # counted: plain lists of batches
    seen: list[int] = []
    for batch_size in (8, 32):
        metrics = _train(data, tmp_path / str(batch_size), TrialSettings("mlp", 1, seed=0),
                         {**MLP, "batch_size": batch_size})  # fmt: skip
        seen.append(len(metrics))
    assert sizes == [128, 8, 32] and seen == [1, 1]


def test_a_dataset_pair_read_by_worker_processes_gives_the_same_run_twice(
    digits: Dataset, tmp_path: Path
) -> None:
    parts = (digits.x_train, digits.y_train), (digits.x_val, digits.y_val)
    pair = as_dataset(tuple(TensorDataset(x, y) for x, y in parts), "test", num_workers=2)
    settings = TrialSettings("mlp", max_epochs=2, seed=0)
    first = _train(pair, tmp_path / "first", settings)
    assert first == _train(copy.deepcopy(pair), tmp_path / "second", settings)
    assert first[-1][VAL_ACC] > 0.8


def test_a_trial_on_a_dataset_pair_resumes_exactly(digits: Dataset, tmp_path: Path) -> None:
    parts = (digits.x_train, digits.y_train), (digits.x_val, digits.y_val)
    pair = as_dataset(tuple(TensorDataset(x, y) for x, y in parts), "test")
    whole, _ = _run(pair, tmp_path / "whole", epochs=3)
    head, states = _run(pair, tmp_path / "head", epochs=1)
    tail, _ = _run(pair, tmp_path / "tail", epochs=3, state=states[-1])
    assert head + tail == whole


def _own_function(
    hp: Any, data: Any, report: Any, *, max_epochs: int, state: Any = None, devices: Any = None
) -> None:
    for epoch in range(1, max_epochs + 1):
        report({"epoch": epoch, "val_f1": 0.5 + epoch / 10, "devices": str(devices)})


def test_a_training_function_reports_its_own_metric_and_gets_its_devices(
    digits: Dataset, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    settings = TrialSettings("custom", max_epochs=2, seed=0, metric="val_f1")
    run_function(
        _own_function, {"lr": 0.01}, digits, settings, tmp_path, lambda m, _: seen.append(m)
    )
    assert [m["val_f1"] for m in seen] == pytest.approx([0.6, 0.7])
    assert seen[0]["devices"] == "[device(type='cpu')]"  # no GPU here: the CPU it runs on
    # Without the searched metric in its report, the function is told what is missing.
    settings = TrialSettings("custom", max_epochs=2, seed=0, metric="val_auc")
    with pytest.raises(ValueError, match=r"must include 'epoch' and the searched metric 'val_auc'"):
        run_function(_own_function, {}, digits, settings, tmp_path / "b", lambda m, _: None)


def test_a_training_function_that_never_reports_fails_saying_so(
    digits: Dataset, tmp_path: Path
) -> None:
    def silent(hp: Any, data: Any, report: Any, *, max_epochs: int, state: Any = None) -> None:
        return None

    settings = TrialSettings("custom", max_epochs=2, seed=0, metric="val_f1")
    with pytest.raises(RuntimeError, match=r"silent returned without reporting 'val_f1'"):
        run_function(silent, {}, digits, settings, tmp_path, lambda m, _: None)
    # Resumed from a state with nothing left to train: nothing to report, no failure.
    run_function(silent, {}, digits, settings, tmp_path / "b", lambda m, _: None, {"epoch": 2})
