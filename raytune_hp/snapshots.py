"""When Ray Tune snapshots an experiment's state: on its period, not after every few checkpoints.

Ray Tune saves its experiment state (every trial's state in one JSON file, the searcher's and the
callbacks' pickles) on a period: every 10 s, or 19 times as long as the last snapshot took, so
that snapshots use at most a twentieth of the driver. With ``CheckpointConfig(num_to_keep=K)``
it also forces one, and waits for it, whenever any trial has checkpointed K times since the last:
a checkpoint it drops would otherwise be deleted while the state on disk still names it. With a
checkpoint every epoch and K = 2 that is a snapshot every few results, each one as large as the
experiment, so the driver's CPU per result grew with the number of trials
(``benchmarks/results/driver_cost.md``).

On a local folder raytune-hp does not need those forced snapshots: a checkpoint Ray drops is
deleted only once a later experiment state is whole on disk
(:mod:`raytune_hp.storage_faults`), so any state a resume starts from finds its checkpoints.
:func:`periodic_snapshots` turns them off while a run lasts; Tune's period, the snapshot when
the run ends or stops, and the deletion of dropped checkpoints are unchanged. On other storage
(S3, GCS) Ray deletes a dropped checkpoint at once and the forced snapshots stay.

What a driver killed outright (SIGKILL, a lost machine) gives up: its state on disk is at most
one period old (10 s unless snapshots are slow), so each running trial continues from the
checkpoint that state names and trains again what it trained after it; before, that was at most
the epoch or two since its last two checkpoints. A trial's checkpoints that Ray dropped stay on
disk until the next snapshot.

Example:
    >>> from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as manager
    >>> with periodic_snapshots():  # tuner.fit() here snapshots on Tune's period only
    ...     manager.on_trial_checkpoint is _no_forced_snapshot
    True
    >>> manager.on_trial_checkpoint is _no_forced_snapshot
    False
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.Lock()
_active = 0  # runs inside periodic_snapshots(): the hook stays replaced until the last ends
_original: Any = None


def _no_forced_snapshot(self: Any, trial: Any) -> None:
    """Tune's hook after a trial's checkpoint, which counts towards a forced snapshot: none."""


@contextlib.contextmanager
def periodic_snapshots(enabled: bool = True) -> Iterator[None]:
    """Ray Tune snapshots the experiment state on its period only while the block runs (in
    this process); with ``enabled`` false (storage that deletes dropped checkpoints at once) the
    block runs with Tune's forced snapshots, as Tune sets them."""
    global _active, _original
    if not enabled:
        yield
        return
    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as manager

    with _lock:
        if _active == 0:
            _original = manager.on_trial_checkpoint
            manager.on_trial_checkpoint = _no_forced_snapshot  # type: ignore[method-assign]
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                manager.on_trial_checkpoint = _original  # type: ignore[method-assign]
                _original = None
