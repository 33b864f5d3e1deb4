from __future__ import annotations

from ray.tune.execution.experiment_state import _ExperimentCheckpointManager

from raytune_hp.snapshots import periodic_snapshots


def _manager() -> _ExperimentCheckpointManager:
    # As Tune makes it for CheckpointConfig(num_to_keep=2).
    return _ExperimentCheckpointManager(
        storage=None, checkpoint_period="auto", sync_every_n_trial_checkpoints=2
    )


def test_checkpoints_force_no_snapshot_inside_the_block() -> None:
    manager = _manager()
    with periodic_snapshots():
        for _ in range(5):
            manager.on_trial_checkpoint("trial")
    assert not manager._should_force_sync_up


def test_tune_forces_snapshots_again_after_the_block() -> None:
    manager = _manager()
    with periodic_snapshots():
        pass
    manager.on_trial_checkpoint("trial")
    manager.on_trial_checkpoint("trial")
    assert manager._should_force_sync_up


def test_storage_that_deletes_at_once_keeps_forced_snapshots() -> None:
    manager = _manager()
    with periodic_snapshots(enabled=False):
        manager.on_trial_checkpoint("trial")
        manager.on_trial_checkpoint("trial")
    assert manager._should_force_sync_up


def test_nested_runs_keep_the_policy_until_the_last_ends() -> None:
    manager = _manager()
    with periodic_snapshots():
        with periodic_snapshots():
            pass
        manager.on_trial_checkpoint("trial")
        manager.on_trial_checkpoint("trial")
        assert not manager._should_force_sync_up
