"""A trial's state: numpy values round-trip, what could not be read back is refused at the first
save, and a cut-off newest checkpoint falls back to the one before it, then to a fresh start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ray import tune

from raytune_hp.trial_state import (
    STATE_FILE,
    UnrestorableStateError,
    load_state,
    restore,
    save_state,
)


def test_numpy_values_in_a_state_come_back_as_they_were(tmp_path: Path) -> None:
    state = {
        "epoch": 2,
        "weights": torch.ones(3),
        "mean": np.float32(0.25),
        "count": np.int64(7),
        "flag": np.bool_(True),
        "history": [np.arange(4, dtype=np.int16).reshape(2, 2), (np.float64(1.5), "x")],
        "rng": np.random.default_rng(0).bit_generator.state["state"]["state"],
        "empty": np.zeros((0, 3)),
    }
    save_state(state, str(tmp_path), check=True)
    back = load_state(str(tmp_path))
    assert back["epoch"] == 2 and torch.equal(back["weights"], torch.ones(3))
    assert type(back["mean"]) is np.float32 and back["mean"] == np.float32(0.25)
    assert type(back["count"]) is np.int64 and back["count"] == 7
    assert type(back["flag"]) is np.bool_ and back["flag"]
    array, (scalar, word) = back["history"]
    assert array.dtype == np.int16 and array.tolist() == [[0, 1], [2, 3]]
    assert type(scalar) is np.float64 and scalar == 1.5 and word == "x"
    assert back["rng"] == state["rng"]
    assert back["empty"].shape == (0, 3)
    array[0, 0] = 9  # writable, not a view of the file's bytes


class _Running:
    def __init__(self) -> None:
        self.total = 0.0


def test_a_state_that_could_not_be_restored_is_refused_at_its_first_save(tmp_path: Path) -> None:
    with pytest.raises(UnrestorableStateError, match=r"must hold only tensors.*got values of"):
        save_state({"epoch": 1, "stats": _Running()}, str(tmp_path), check=True)
    with pytest.raises(UnrestorableStateError, match=r"got a numpy value of dtype object"):
        save_state({"names": np.array(["a", None], dtype=object)}, str(tmp_path))


def _checkpoints(trial: Path, epochs: int) -> list[tune.Checkpoint]:
    for epoch in range(1, epochs + 1):
        folder = trial / f"checkpoint_{epoch - 1:06d}"
        folder.mkdir(parents=True)
        save_state({"epoch": epoch, "mean": np.float32(epoch)}, str(folder))
    return [tune.Checkpoint.from_directory(str(p)) for p in sorted(trial.glob("checkpoint_*"))]


def test_a_cut_off_newest_checkpoint_falls_back_to_the_one_before(tmp_path: Path) -> None:
    checkpoints = _checkpoints(tmp_path / "trial", 3)
    assert restore(checkpoints[-1]) == ({"epoch": 3, "mean": np.float32(3)}, "")
    newest = Path(checkpoints[-1].path) / STATE_FILE
    newest.write_bytes(newest.read_bytes()[:100])  # cut off, as by a crash or a full disk
    state, note = restore(checkpoints[-1])
    assert state == {"epoch": 2, "mean": np.float32(2)}
    assert note.startswith("checkpoint_000002 could not be read (")
    assert note.endswith(": continued from checkpoint_000001")


def test_no_readable_checkpoint_starts_the_trial_afresh(tmp_path: Path) -> None:
    checkpoints = _checkpoints(tmp_path / "trial", 2)
    for checkpoint in checkpoints:
        (Path(checkpoint.path) / STATE_FILE).write_bytes(b"")
    state, note = restore(checkpoints[-1])
    assert state is None
    assert note.startswith("checkpoint_000001 could not be read")
    assert note.endswith("no older checkpoint could be read, started afresh")
