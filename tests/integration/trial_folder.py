"""What a trial's folder in the run folder shows while the run goes on."""

from __future__ import annotations

from pathlib import Path


def checkpointed_epochs(trial_dir: Path) -> int:
    """The epochs a trial has checkpointed so far, from its checkpoint folders: they reach the
    run folder as they are written, its ``result.json`` with Ray Tune's next snapshot."""
    found = [int(p.name.rpartition("_")[2]) for p in trial_dir.glob("checkpoint_*") if p.is_dir()]
    return max(found) + 1 if found else 0
