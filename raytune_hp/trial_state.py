"""A trial's state (what it needs to resume) saved with each checkpoint, and read back.

The state is saved with ``torch.save`` and read with ``torch.load(weights_only=True)``, which
unpickles tensors and plain values only: a checkpoint cannot run code. numpy arrays and scalars
(a user's function may keep its own RNG or running statistics in them) are saved as raw bytes
beside their dtype and shape, and come back as the numpy values they were. Anything else that
could not be read back is refused at the trial's first report, not at its first retry.

A checkpoint that cannot be read (cut off by a crash, a full disk) is passed over for the newest
older one that can (each trial keeps its latest and its two best), then for a fresh start; the
trial says which in its next result (:data:`raytune_hp.metrics.CHECKPOINT_FALLBACK`), and the
summary shows it.

Example:
    >>> import numpy as np
    >>> state = {"epoch": 3, "rng": np.random.default_rng(0).bit_generator.state["state"],
    ...          "mean": np.float32(0.5), "history": np.arange(3)}
    >>> back = from_saved(to_saved(state))
    >>> back["mean"], back["history"].tolist(), type(back["mean"]).__name__
    (np.float32(0.5), [0, 1, 2], 'float32')
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

STATE_FILE = "state.pt"
_NUMPY = "__raytune_hp_numpy__"  # marks a numpy value saved as {_NUMPY: dtype, shape, data}
_CHECKPOINT = re.compile(r"checkpoint_(\d+)")


class UnrestorableStateError(TypeError):
    """A trial's state holds a value that could not be read back when the trial resumes."""


def to_saved(value: Any) -> Any:
    """``value`` with its numpy arrays and scalars as plain dicts of bytes that
    ``torch.load(weights_only=True)`` reads back.

    Raises:
        UnrestorableStateError: a numpy value of a dtype that has no fixed size (objects,
            structured records).
    """
    if isinstance(value, np.ndarray | np.generic):
        array = np.asarray(value)
        if array.dtype.hasobject or array.dtype.fields is not None:
            raise UnrestorableStateError(
                f"a numpy value of dtype {array.dtype} (objects or records)"
            )
        raw = bytearray(array.tobytes())  # C order, whatever the array's own
        data = (
            torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
        )
        return {
            _NUMPY: array.dtype.str,
            "shape": list(array.shape),
            "scalar": isinstance(value, np.generic),
            "data": data,
        }
    if isinstance(value, Mapping):
        return {key: to_saved(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [to_saved(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def from_saved(value: Any) -> Any:
    """The state :func:`to_saved` saved, its numpy values numpy again."""
    if isinstance(value, dict) and _NUMPY in value:
        raw = value["data"].numpy().tobytes()
        array = np.frombuffer(raw, dtype=np.dtype(value[_NUMPY])).reshape(value["shape"]).copy()
        return array[()] if value["scalar"] else array
    if isinstance(value, dict):
        return {key: from_saved(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [from_saved(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def save_state(state: Mapping[str, Any], folder: str, check: bool = False) -> None:
    """Saves ``state`` into ``folder``; with ``check`` (a trial's first report), makes sure that
    it can be read back.

    Raises:
        UnrestorableStateError: it could not be read back, with what in it could not.
    """
    path = os.path.join(folder, STATE_FILE)
    try:
        torch.save(to_saved(state), path)
    except UnrestorableStateError as error:
        raise UnrestorableStateError(_refused(str(error))) from None
    if check:
        from torch.serialization import get_unsafe_globals_in_checkpoint

        unsafe = get_unsafe_globals_in_checkpoint(path)
        if unsafe:
            raise UnrestorableStateError(_refused(f"values of the types {', '.join(unsafe)}"))


def _refused(what: str) -> str:
    return (
        f"the trial's state (report(metrics, state)) must hold only tensors, numbers, strings, "
        f"bools, None, numpy arrays and scalars, in dicts, lists and tuples, so that the trial "
        f"can resume from it; got {what}"
    )


def load_state(folder: str) -> dict[str, Any]:
    """The state saved in ``folder``.

    Raises:
        Exception: the file is missing, cut off or not a state (whatever ``torch.load`` raises).
    """
    saved = torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)
    return from_saved(saved)  # type: ignore[no-any-return]


def restore(checkpoint: Any) -> tuple[dict[str, Any] | None, str]:
    """The state of the newest of the trial's checkpoints that can be read, starting at
    ``checkpoint`` (Ray Tune's latest), and a note when that was not ``checkpoint`` itself:
    which one it was instead, or that none could be read (the trial starts afresh)."""
    from ray import tune

    unreadable = ""
    for candidate in _checkpoints(checkpoint, tune.Checkpoint):
        try:
            with candidate.as_directory() as folder:
                state = load_state(folder)
        except Exception as error:  # cut off, emptied, not a state: try the one before
            if not unreadable:
                unreadable = f"{_name(candidate)} could not be read ({_one_line(error)})"
            continue
        if not unreadable:
            return state, ""
        return state, f"{unreadable}: continued from {_name(candidate)}"
    return None, f"{unreadable}: no older checkpoint could be read, started afresh"


def _checkpoints(latest: Any, make: Callable[..., Any]) -> list[Any]:
    """``latest``, then the trial's older checkpoints beside it, newest first."""
    from pyarrow.fs import FileSelector, FileType

    parent, _, name = str(latest.path).rstrip("/").rpartition("/")
    newest = _CHECKPOINT.fullmatch(name)
    older: list[tuple[int, str]] = []
    if newest is not None and parent:
        try:
            infos = latest.filesystem.get_file_info(FileSelector(parent))
        except OSError:
            infos = []
        for info in infos:
            match = _CHECKPOINT.fullmatch(info.base_name)
            if match and info.type == FileType.Directory and int(match[1]) < int(newest[1]):
                older.append((int(match[1]), info.path))
    older.sort(reverse=True)
    return [latest, *(make(path, filesystem=latest.filesystem) for _, path in older)]


def _name(checkpoint: Any) -> str:
    return str(checkpoint.path).rstrip("/").rpartition("/")[2]


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
