"""The TensorBoard writer read back with TensorBoard's own reader: the experiment summary
declares every hyperparameter of the space with its domain, and a trial's session starts (with
its hyperparameters) before any training, so running and pruned trials show in HParams."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hp

from raytune_hp.metrics import HPARAMS_METRICS
from raytune_hp.spaces import resolve_space
from raytune_hp.tb_logger import TrialWriter, _hparam, write_experiment_summary


def _events(folder: Path) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def _hparams_content(folder: Path) -> dict[str, bytes]:
    return dict(_events(folder).PluginTagToContent(hparams_metadata.PLUGIN_NAME))


def test_the_experiment_declares_every_hyperparameter_with_its_domain(tmp_path: Path) -> None:
    space = resolve_space("cnn", {"num_layers": 2, "include": ["schedule"]})
    write_experiment_summary(tmp_path, space)
    content = _hparams_content(tmp_path)[hparams_metadata.EXPERIMENT_TAG]
    experiment = hparams_metadata.parse_experiment_plugin_data(content)
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
    batch = [v.number_value for v in declared["batch_size"].domain_discrete.values]
    assert batch == [2.0**e for e in range(11)]  # the powers of two in [1, 1024]
    assert [v.number_value for v in declared["num_layers"].domain_discrete.values] == [2.0]
    kernels = declared["num_kernels"].domain_interval
    assert (kernels.min_value, kernels.max_value) == (100, 600)
    assert [m.name.tag for m in experiment.metric_infos] == list(HPARAMS_METRICS)


def test_a_trial_session_starts_before_training_with_its_hyperparameters(tmp_path: Path) -> None:
    hp = {"optimizer": "adam", "lr": 0.003, "batch_size": 64, "dropout": 0.25}
    writer = TrialWriter(tmp_path / "trial-a", hp)
    # Readable while the trial runs: the session start is flushed at once.
    start = hparams_metadata.parse_session_start_info_plugin_data(
        _hparams_content(tmp_path / "trial-a")[hparams_metadata.SESSION_START_INFO_TAG]
    )
    logged = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    assert logged == pytest.approx(hp)
    assert start.group_name == "trial-a"
    writer.close()


def test_steps_epochs_and_the_end_of_a_finished_trial(tmp_path: Path) -> None:
    writer = TrialWriter(tmp_path, {"lr": 0.01})
    for step in (1, 2, 3):
        writer.train_step(step, loss=1.0 / step, lr=0.01 * step)
    writer.epoch(1, {"val_loss": 0.7, "val_acc": 0.6, "num_params": 123})
    writer.epoch(2, {"val_loss": 0.5, "val_acc": 0.8})
    writer.finished()
    writer.close()
    events = _events(tmp_path)
    assert [s.step for s in events.Scalars("train_loss")] == [1, 2, 3]
    assert [s.value for s in events.Scalars("lr")] == pytest.approx([0.01, 0.02, 0.03])
    assert [s.step for s in events.Scalars("val_acc")] == [1, 2]
    assert [s.value for s in events.Scalars("val_acc")] == pytest.approx([0.6, 0.8])
    assert "num_params" not in events.Tags()["scalars"]  # only the epoch metrics are curves
    end = hparams_metadata.parse_session_end_info_plugin_data(
        _hparams_content(tmp_path)[hparams_metadata.SESSION_END_INFO_TAG]
    )
    assert end.status == api_pb2.STATUS_SUCCESS


def test_a_trial_stopped_early_has_no_session_end(tmp_path: Path) -> None:
    writer = TrialWriter(tmp_path, {"lr": 0.01})
    writer.epoch(1, {"val_acc": 0.5})
    writer.close()
    assert hparams_metadata.SESSION_END_INFO_TAG not in _hparams_content(tmp_path)


def test_integers_on_a_log_scale_and_changed_kinds_declare_their_own_domains(
    tmp_path: Path,
) -> None:
    space = resolve_space(
        "cnn",
        {
            "width": {"kind": "int", "low": 8, "high": 512, "log": True},
            "batch_size": {"kind": "int", "low": 16, "high": 200},
            "kernel_size": {"kind": "choice", "choices": [3, 5]},
        },
    )
    write_experiment_summary(tmp_path, space)
    content = _hparams_content(tmp_path)[hparams_metadata.EXPERIMENT_TAG]
    declared = {
        info.name: info
        for info in hparams_metadata.parse_experiment_plugin_data(content).hparam_infos
    }
    for name, bounds in [("width", (8, 512)), ("batch_size", (16, 200))]:
        interval = declared[name].domain_interval
        assert (interval.min_value, interval.max_value) == bounds, name
        # An IntInterval reads back as any interval does (TensorBoard has no int type yet).
        domain = _hparam(space[name], space).domain
        assert isinstance(domain, hp.IntInterval), name
        assert (domain.min_value, domain.max_value) == bounds, name
    choices = resolve_space("cnn", {"batch_size": {"kind": "choice", "choices": [24, 48, 96]}})
    write_experiment_summary(tmp_path / "choices", choices)
    content = _hparams_content(tmp_path / "choices")[hparams_metadata.EXPERIMENT_TAG]
    (batch,) = [
        info
        for info in hparams_metadata.parse_experiment_plugin_data(content).hparam_infos
        if info.name == "batch_size"
    ]
    assert [v.number_value for v in batch.domain_discrete.values] == [24.0, 48.0, 96.0]
