"""The TensorBoard writer read back with TensorBoard's own reader: a trial's run declares the
experiment (every hyperparameter with its domain, integers as text that sorts in numeric order,
the five HParams shows by default, the score first among the metrics) and its own session before
any training; every epoch it writes the score so far; the driver's end record says how it ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

from raytune_hp.spaces import resolve_space
from raytune_hp.tb_logger import (
    BEST,
    EPOCHS,
    STOPPED_EARLY,
    TrialWriter,
    hparams_layout,
    write_trial_end,
)


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def _hparams_content(folder: Path) -> dict[str, bytes]:
    return dict(_events(folder).PluginTagToContent(hparams_metadata.PLUGIN_NAME))


def _declared(folder: Path) -> api_pb2.Experiment:
    content = _hparams_content(folder)[hparams_metadata.EXPERIMENT_TAG]
    return hparams_metadata.parse_experiment_plugin_data(content)


def _start(folder: Path) -> dict[str, object]:
    content = _hparams_content(folder)[hparams_metadata.SESSION_START_INFO_TAG]
    start = hparams_metadata.parse_session_start_info_plugin_data(content)
    return {k: v.string_value or v.number_value for k, v in start.hparams.items()}


def test_a_trials_run_declares_the_experiment_and_its_own_session(tmp_path: Path) -> None:
    space = resolve_space("cnn", {"num_layers": 2, "include": ["schedule"]})
    layout = hparams_layout(space, "val_acc", "max", ["val_acc", "val_loss", "train_loss"])
    hp = {"optimizer": "adam", "lr": 0.003, "batch_size": 64, "kernel_size": 3, "dropout": 0.25}
    TrialWriter(tmp_path / "001_adam_lr3.0e-03", hp, layout).close()
    run = tmp_path / "001_adam_lr3.0e-03"
    experiment = _declared(run)  # in the trial's own run: the experiment folder has no run
    declared = {info.name: info for info in experiment.hparam_infos}
    # Conditional ones included: warmup_steps exists only under two schedules.
    assert list(declared) == [dim.name for dim in space.dims]
    lr = declared["lr"].domain_interval
    assert (lr.min_value, lr.max_value) == (1e-4, 1e-1)  # AdamW's low end to SGD's high end
    optimizers = {v.string_value for v in declared["optimizer"].domain_discrete.values}
    assert optimizers == {
        "sgd",
        "momentum",
        "adagrad",
        "adadelta",
        "rmsprop",
        "adam",
        "nadam",
        "adamw",
    }
    # Integers as text right-aligned to one width: shown as 64, not 64.000, in numeric order.
    batches = [v.string_value for v in declared["batch_size"].domain_discrete.values]
    assert batches == [str(2**e).rjust(4) for e in range(11)] and batches == sorted(batches)
    assert [v.string_value for v in declared["num_layers"].domain_discrete.values] == ["2"]
    assert not declared["num_kernels"].HasField("domain_discrete")  # 501 values: a pattern
    # Five shown by default: the learning rate, the optimizer, the batch size, then what the
    # tables say to tune finely (dropout), then the first in table order.
    shown = {name for name, info in declared.items() if info.differs}
    assert shown == {"lr", "optimizer", "batch_size", "dropout", "kernel_size"}
    metrics = [(m.name.tag, m.display_name) for m in experiment.metric_infos]
    # TensorBoard shows five metrics by default: the score and how the trial ended among them.
    assert metrics[:4] == [
        ("best/val_acc", "val_acc (best epoch)"),
        ("val_acc", "val_acc (last epoch)"),
        (EPOCHS, "epochs trained"),
        (STOPPED_EARLY, "stopped early by ASHA"),
    ]
    assert [tag for tag, _ in metrics[4:]] == ["val_loss", "train_loss"]
    # The session starts before any training, with values as declared.
    start = _start(run)
    assert start["batch_size"] == "  64" and start["kernel_size"] == "3"
    assert start["lr"] == pytest.approx(0.003) and start["optimizer"] == "adam"


def test_every_epoch_writes_its_metrics_and_the_score_so_far(tmp_path: Path) -> None:
    layout = hparams_layout(resolve_space("mlp"), "val_loss", "min")
    writer = TrialWriter(tmp_path, {"lr": 0.01}, layout)
    for step in (1, 2, 3):
        writer.train_step(step, loss=1.0 / step, lr=0.01 * step)
    for epoch, loss in enumerate([0.7, 0.5, 0.6], start=1):
        writer.epoch(epoch, {"epoch": epoch, "val_loss": loss, "train_loss": 1.0, "num_params": 9})
    writer.close()
    events = _events(tmp_path)
    assert [s.value for s in events.Scalars("lr")] == pytest.approx([0.01, 0.02, 0.03])
    assert [s.step for s in events.Scalars("train_loss")] == [1, 2, 3]  # per step only
    assert [s.value for s in events.Scalars("val_loss")] == pytest.approx([0.7, 0.5, 0.6])
    # Lower is better: the score holds the best epoch's, which HParams shows as the last value.
    assert [s.value for s in events.Scalars(BEST.format("val_loss"))] == pytest.approx(
        [0.7, 0.5, 0.5]
    )
    assert [s.value for s in events.Scalars(EPOCHS)] == [1, 2, 3]
    assert "num_params" not in events.Tags()["scalars"]


def test_a_resumed_trial_keeps_its_score_so_far(tmp_path: Path) -> None:
    layout = hparams_layout(resolve_space("mlp"), "val_acc", "max")
    writer = TrialWriter(tmp_path, {"lr": 0.01}, layout, best=0.9)
    writer.epoch(4, {"val_acc": 0.8})
    assert writer.best == 0.9
    writer.close()
    assert [s.value for s in _events(tmp_path).Scalars("best/val_acc")] == pytest.approx([0.9])


def test_the_end_record_says_how_the_trial_ended(tmp_path: Path) -> None:
    TrialWriter(tmp_path, {"lr": 0.01}).close()
    write_trial_end(
        tmp_path, "stopped early by ASHA at epoch 6", 6, stopped_early=True, succeeded=True
    )
    events = _events(tmp_path)
    end = hparams_metadata.parse_session_end_info_plugin_data(
        _hparams_content(tmp_path)[hparams_metadata.SESSION_END_INFO_TAG]
    )
    assert end.status == api_pb2.STATUS_SUCCESS
    assert [(s.step, s.value) for s in events.Scalars(STOPPED_EARLY)] == [(6, 1.0)]
    assert "status/text_summary" in events.Tags()["tensors"]


def test_a_retried_trial_starts_a_session_without_its_old_end(tmp_path: Path) -> None:
    TrialWriter(tmp_path, {"lr": 0.01}).close()
    write_trial_end(tmp_path, "failed: RuntimeError", 2, stopped_early=False, succeeded=False)
    TrialWriter(tmp_path, {"lr": 0.01}).close()  # the retry, in the same folder
    assert hparams_metadata.SESSION_END_INFO_TAG not in _hparams_content(tmp_path)


def test_integers_on_a_log_scale_and_changed_kinds_are_text_in_numeric_order() -> None:
    space = resolve_space(
        "cnn",
        {
            "width": {"kind": "int", "low": 8, "high": 512, "log": True},
            "batch_size": {"kind": "int", "low": 16, "high": 200},
            "kernel_size": {"kind": "choice", "choices": [3, 5]},
        },
    )
    layout = hparams_layout(space, "val_acc", "max")
    assert layout.widths["width"] == 3 and layout.widths["batch_size"] == 3
    assert layout.values({"width": 8, "batch_size": 150, "kernel_size": 5, "lr": 0.1}) == {
        "width": "  8", "batch_size": "150", "kernel_size": "5", "lr": 0.1,
    }  # fmt: skip
