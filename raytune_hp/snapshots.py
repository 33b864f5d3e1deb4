"""When Ray Tune snapshots an experiment into a local folder, and what each snapshot copies.

Ray Tune saves its experiment state (every trial's state in one JSON file, the searcher's and the
callbacks' pickles) into a staging folder on the driver, beside the driver's log of every trial
(``result.json``, ``progress.csv``, ``params.json``), then copies that whole folder into the run
folder. It does so on a period (10 s, or 19 times the last snapshot's time, so that snapshots take
at most 5% of the driver), and, with ``CheckpointConfig(num_to_keep)``, also whenever a trial has
checkpointed ``num_to_keep`` times since the last snapshot. With a checkpoint every epoch, the
forced snapshots came every few results, and each rewrote, signed and copied the whole state:
about 20 KiB per trial, so the driver's CPU per result grew with the number of trials
(``benchmarks/results/driver_cost.md``).

Inside :func:`incremental_snapshots`, for a run into a local folder:

- no snapshot is forced by checkpoints; Tune's period alone decides. Ray forces them so that its
  saved state never names a checkpoint it has deleted since; here a dropped checkpoint is
  deleted only once a later state, which no longer names it, is whole on disk
  (:mod:`raytune_hp.storage_faults`), so every saved state stays resumable. A driver killed
  outright resumes from its last snapshot, at most one period old: a trial continues from the
  checkpoint that snapshot names, and in place of a trial started after it the searcher
  proposes another (``tests/integration/test_resume.py``). With epochs longer than the period,
  that is the last checkpoint, as before;
- a snapshot copies the files at the top of the staging folder (Ray's state, rewritten at each
  snapshot) and, of the trials' logs, those whose size or modification time changed since this
  run last copied them; the rest is in the run folder already.

Every snapshot still passes through Ray's save (its callbacks' ``get_state``, where
:class:`raytune_hp.folder_trust.FolderSigner` signs it) before its files are copied. On other
storage (S3, GCS) Ray's forced snapshots and its copy are kept: there Ray deletes a dropped
checkpoint at once.

Example:
    >>> from ray.train._internal.storage import _FilesystemSyncer as syncer
    >>> with incremental_snapshots():  # tuner.fit() here copies what changed
    ...     syncer._sync_up_command is _sync_up_command
    True
    >>> syncer._sync_up_command is _sync_up_command
    False
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow.fs

_DURABLE = "py::raytune-hp-durable-local"  # storage_faults.durable_filesystem(): a local folder

_lock = threading.Lock()
_active = 0  # runs inside incremental_snapshots(): the hooks stay replaced until the last ends
_original: Any = None
_original_on_checkpoint: Any = None

_copied_lock = threading.Lock()
_copied: dict[tuple[str, str], tuple[int, int]] = {}  # (source, destination): (size, mtime_ns)


def copy_changed(source: str, fs: pyarrow.fs.FileSystem, destination: str) -> int:
    """Copies the local folder ``source`` to ``destination`` on ``fs``: the files directly in it
    always, those in its sub-folders when their size or modification time changed since this
    process last copied them there. Returns how many files it copied.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> source, destination = tempfile.mkdtemp(), tempfile.mkdtemp()
        >>> _ = Path(source, "trial").mkdir(), Path(source, "trial", "result.json").write_text("1")
        >>> _ = Path(source, "experiment_state.json").write_text("{}")
        >>> fs = pyarrow.fs.LocalFileSystem()
        >>> copy_changed(source, fs, destination), copy_changed(source, fs, destination)
        (2, 1)
        >>> Path(destination, "trial", "result.json").read_text()
        '1'
    """
    copied = 0
    for folder, _, names in os.walk(source):
        relative = os.path.relpath(folder, source)
        top = relative == "."
        target = destination if top else f"{destination}/{relative}"
        if names and not top and fs.type_name != _DURABLE:  # the durable one makes parents
            fs.create_dir(target, recursive=True)
        for name in names:
            path = os.path.join(folder, name)
            try:
                found = os.stat(path)
            except FileNotFoundError:
                continue  # a temporary file of Ray's, gone since the folder was listed
            key, seen = (path, f"{target}/{name}"), (found.st_size, found.st_mtime_ns)
            with _copied_lock:
                if not top and _copied.get(key) == seen:
                    continue
            _copy(path, fs, f"{target}/{name}")
            with _copied_lock:
                _copied[key] = seen
            copied += 1
    return copied


def _copy(path: str, fs: pyarrow.fs.FileSystem, destination: str) -> None:
    with open(path, "rb") as file:
        data = file.read()
    with fs.open_output_stream(destination) as stream:
        stream.write(data)


def _upload_changed(
    local_path: str, fs: pyarrow.fs.FileSystem, fs_path: str, exclude: Any = None
) -> None:
    """Ray's upload of a snapshot's staging folder (run in Ray's background thread)."""
    copy_changed(local_path, fs, fs_path)


def _sync_up_command(self: Any, local_path: str, uri: str, exclude: Any = None) -> Any:
    """Ray's command for a snapshot's upload: :func:`copy_changed` into a local folder."""
    fs = self.storage_filesystem
    if exclude or fs is None or fs.type_name != _DURABLE:
        return _original(self, local_path, uri, exclude)
    return _upload_changed, {"local_path": local_path, "fs": fs, "fs_path": uri}


def _on_trial_checkpoint(self: Any, trial: Any) -> None:
    """Ray's count of a trial's checkpoints towards a forced snapshot: none into a local
    folder."""
    storage = getattr(self, "_storage", None)
    fs = getattr(storage, "storage_filesystem", None)
    if fs is not None and fs.type_name == _DURABLE:
        return
    _original_on_checkpoint(self, trial)


@contextlib.contextmanager
def incremental_snapshots(enabled: bool = True, periodic: bool = True) -> Iterator[None]:
    """While the block runs (in this process), Ray Tune snapshots into a local folder on its
    period only, each snapshot copying what changed (see the module). With ``enabled`` false the
    block runs with Ray's own snapshots and copy; with ``periodic`` false, with Ray's snapshots
    (forced by checkpoints too), each copying what changed."""
    global _active, _original, _original_on_checkpoint
    if not enabled:
        yield
        return
    from ray.train._internal.storage import _FilesystemSyncer as syncer
    from ray.tune.execution.experiment_state import _ExperimentCheckpointManager as manager

    with _lock:
        if _active == 0:
            _original = syncer._sync_up_command
            syncer._sync_up_command = _sync_up_command  # type: ignore[method-assign]
            _original_on_checkpoint = manager.on_trial_checkpoint
            if periodic:
                manager.on_trial_checkpoint = _on_trial_checkpoint  # type: ignore[method-assign]
            with _copied_lock:
                _copied.clear()  # a new run: none of its staging folder copied yet
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                syncer._sync_up_command = _original  # type: ignore[method-assign]
                manager.on_trial_checkpoint = _original_on_checkpoint  # type: ignore[method-assign]
                _original = _original_on_checkpoint = None
