from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray.train._internal.storage import _FilesystemSyncer

from raytune_hp.snapshots import copy_changed, incremental_snapshots
from raytune_hp.storage_faults import durable_filesystem


def _staging(tmp_path: Path, trials: int) -> Path:
    """Ray's staging folder: its state at the top, a log per trial below."""
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "experiment_state-x.json").write_text('{"trial_data": []}')
    for number in range(trials):
        trial = staging / f"{number:03d}_adam"
        trial.mkdir()
        (trial / "params.json").write_text('{"lr": 0.1}')
        (trial / "result.json").write_text('{"epoch": 1}\n')
    return staging


def _snapshot(staging: Path, run: Path) -> None:
    """One upload of a snapshot, as Ray's background syncer runs it."""
    syncer = _FilesystemSyncer(storage_filesystem=durable_filesystem())
    function, arguments = syncer._sync_up_command(str(staging), str(run))
    function(**arguments)


def test_a_snapshot_copies_the_state_and_the_trials_logs_that_changed(tmp_path: Path) -> None:
    staging, run = _staging(tmp_path, trials=3), tmp_path / "run"
    with incremental_snapshots():
        _snapshot(staging, run)
        assert (run / "002_adam" / "result.json").read_text() == '{"epoch": 1}\n'
        (staging / "experiment_state-x.json").write_text('{"trial_data": [1]}')
        with (staging / "001_adam" / "result.json").open("a") as log:
            log.write('{"epoch": 2}\n')
        copied = copy_changed(str(staging), durable_filesystem(), str(run))
    assert copied == 2  # the state, and the one trial log that grew
    assert (run / "experiment_state-x.json").read_text() == '{"trial_data": [1]}'
    assert (run / "001_adam" / "result.json").read_text().count("epoch") == 2


def test_the_state_is_copied_at_each_snapshot_even_unchanged_in_size_and_time(
    tmp_path: Path,
) -> None:
    # A file rewritten within the clock's tick, at the same size, looks unchanged: Ray's state
    # is rewritten at each snapshot (the statuses RUNNING and PAUSED have the same length).
    staging, run = _staging(tmp_path, trials=1), tmp_path / "run"
    fs = durable_filesystem()
    with incremental_snapshots():
        copy_changed(str(staging), fs, str(run))
        state = staging / "experiment_state-x.json"
        found = state.stat()
        state.write_text('{"trial_data": [2]}')
        os.utime(state, ns=(found.st_atime_ns, found.st_mtime_ns))
        copy_changed(str(staging), fs, str(run))
    assert (run / "experiment_state-x.json").read_text() == '{"trial_data": [2]}'


def test_ray_copies_everything_again_after_the_block(tmp_path: Path) -> None:
    staging, run = _staging(tmp_path, trials=2), tmp_path / "run"
    with incremental_snapshots():
        pass
    syncer = _FilesystemSyncer(storage_filesystem=durable_filesystem())
    function, _ = syncer._sync_up_command(str(staging), str(run))
    assert function.__module__.startswith("ray.")


def test_other_storage_keeps_ray_s_copy(tmp_path: Path) -> None:
    import pyarrow.fs

    with incremental_snapshots():
        syncer = _FilesystemSyncer(storage_filesystem=pyarrow.fs.LocalFileSystem())
        function, _ = syncer._sync_up_command(str(tmp_path), str(tmp_path / "run"))
    assert function.__module__.startswith("ray.")


def test_a_disabled_block_keeps_ray_s_copy(tmp_path: Path) -> None:
    with incremental_snapshots(enabled=False):
        syncer = _FilesystemSyncer(storage_filesystem=durable_filesystem())
        function, _ = syncer._sync_up_command(str(tmp_path), str(tmp_path / "run"))
    assert function.__module__.startswith("ray.")


def test_nested_runs_keep_the_copy_until_the_last_ends(tmp_path: Path) -> None:
    with incremental_snapshots():
        with incremental_snapshots():
            pass
        syncer = _FilesystemSyncer(storage_filesystem=durable_filesystem())
        function, _ = syncer._sync_up_command(str(tmp_path), str(tmp_path / "run"))
        assert function.__module__ == "raytune_hp.snapshots"


def _checkpoints_force_a_snapshot(storage_filesystem: Any) -> bool:
    """Whether Ray Tune forces a snapshot after a trial checkpointed twice (``num_to_keep=2``)."""
    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

    storage = SimpleNamespace(storage_filesystem=storage_filesystem)
    manager = _ExperimentCheckpointManager(
        storage=storage,  # type: ignore[arg-type]
        checkpoint_period="auto",
        sync_every_n_trial_checkpoints=2,
    )
    trial = object()
    manager.on_trial_checkpoint(trial)  # type: ignore[arg-type]
    manager.on_trial_checkpoint(trial)  # type: ignore[arg-type]
    return bool(manager._should_force_sync_up)


def test_checkpoints_force_no_snapshot_into_a_local_folder_only_inside_the_block() -> None:
    import pyarrow.fs

    with incremental_snapshots():
        assert not _checkpoints_force_a_snapshot(durable_filesystem())  # Tune's period decides
        assert _checkpoints_force_a_snapshot(pyarrow.fs.LocalFileSystem())  # S3, GCS: as Ray
    with incremental_snapshots(periodic=False):
        assert _checkpoints_force_a_snapshot(durable_filesystem())
    assert _checkpoints_force_a_snapshot(durable_filesystem())
