"""What a full, read-only or forbidden experiment folder does to a run, and how a damaged folder
is still read and resumed.

Ray Tune writes most of the folder itself (its experiment state, each trial's results and
checkpoints), into whatever file it opens, so that a full disk used to leave them cut off. Ray
writes through :func:`durable_filesystem` instead: each file is written beside its place, flushed
and renamed over it, so it is whole (or the older version is kept); the first write that fails is
remembered. :func:`write_guard` watches for such a failure, the driver's own or a trial's, and
stops the run the way Ctrl-C does (trials resumable, Ray's state kept), after which the driver
raises :class:`~raytune_hp.errors.StorageWriteError`: one line naming the path and the cause.

A folder damaged all the same (a copy cut off, a disk filled under an older raytune-hp) is read
for what is whole: a resume sets a cut-off experiment state aside for the newest whole one
(:func:`set_aside_damaged_states`), the summary keeps trials the state does not name
(:func:`trials_missing_from_state`), and ``report`` names each damaged file
(:func:`damaged_files`).

Example:
    >>> import tempfile
    >>> fs = durable_filesystem()
    >>> path = f"{tempfile.mkdtemp()}/a.json"
    >>> with fs.open_output_stream(path) as stream:
    ...     _ = stream.write(b"{}")
    >>> fs.open_input_stream(path).read()
    b'{}'
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import re
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow
import pyarrow.fs

from raytune_hp.driver_lock import lease_lost
from raytune_hp.errors import (
    ExperimentExistsError,
    ExperimentLockedError,
    RaytuneHPError,
    StorageWriteError,
)

if TYPE_CHECKING:
    from raytune_hp.storage import ExperimentStore

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT})
"""The causes of a failed write that no retry fixes: the run stops rather than fail trial after
trial (a disk full, read-only or not ours)."""

_failures: list[StorageWriteError] = []
_failures_lock = threading.Lock()


def first_failure() -> StorageWriteError | None:
    """The first write of this process through :func:`durable_filesystem` that failed for one of
    :data:`WRITE_ERRNOS`, if any."""
    with _failures_lock:
        return _failures[0] if _failures else None


def forget_failures() -> None:
    """Forgets the failures remembered so far (a new run starts with none)."""
    with _failures_lock:
        _failures.clear()


def _remember(error: StorageWriteError) -> None:
    if error.errno in WRITE_ERRNOS:
        with _failures_lock:
            _failures.append(error)


_STATE_FILE = re.compile(r"experiment_state-.*\.json")
_CHECKPOINT_FOLDER = re.compile(r"checkpoint_\d+")
_deferred: list[tuple[int, str]] = []
"""Checkpoint folders Ray Tune dropped (``num_to_keep``), each with the number of experiment
states written before: deleted once a later state, which no longer names them, is whole on
disk. Deleted at once, a folder that the last whole state still names is lost when the disk
fills before the next state is written, and that trial can then never be resumed."""
_states_started = 0
_deferred_lock = threading.Lock()


def _defer_delete(path: str) -> None:
    with _deferred_lock:
        _deferred.append((_states_started, path))


def _state_started() -> int:
    global _states_started
    with _deferred_lock:
        _states_started += 1
        return _states_started


def _state_written(started: int) -> None:
    """Deletes the checkpoint folders dropped before the state numbered ``started`` began."""
    with _deferred_lock:
        due = [path for number, path in _deferred if number < started]
        _deferred[:] = [(number, path) for number, path in _deferred if number >= started]
    for path in due:
        with contextlib.suppress(OSError):
            pyarrow.fs.LocalFileSystem().delete_dir(path)


class _AtomicFile:
    """A file object that writes into a temporary file beside ``path`` and renames it over
    ``path`` when closed, unless a write failed: then the old ``path`` is kept. An experiment
    state that is written whole lets the checkpoint folders dropped before it go."""

    def __init__(self, path: str) -> None:
        self._path = Path(path)
        self._state = _state_started() if _STATE_FILE.fullmatch(self._path.name) else None
        self._failed = False
        self.closed = False
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            handle, self._partial = tempfile.mkstemp(
                prefix=f".{self._path.name}.", dir=self._path.parent
            )
        except OSError as exc:
            raise self._failure(exc) from exc
        self._file = os.fdopen(handle, "wb")

    def _failure(self, exc: OSError) -> StorageWriteError:
        # The temporary file goes at once: a caller that drops the stream never closes it.
        self._failed = True
        with contextlib.suppress(OSError, AttributeError):
            self._file.close()
        with contextlib.suppress(OSError, AttributeError):
            os.unlink(self._partial)
        error = StorageWriteError.of(str(self._path), exc)
        _remember(error)
        return error

    def write(self, data: Any) -> int:
        try:
            return self._file.write(data)
        except OSError as exc:
            raise self._failure(exc) from exc

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise self._failure(exc) from exc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if not self._failed:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            if not self._failed:
                os.replace(self._partial, self._path)
                if self._state is not None:
                    _state_written(self._state)
        except OSError as exc:
            raise self._failure(exc) from exc
        finally:
            with contextlib.suppress(OSError):
                self._file.close()
            if self._failed:
                with contextlib.suppress(OSError):
                    os.unlink(self._partial)

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._file.tell()


class _DurableLocalHandler(pyarrow.fs.FileSystemHandler):
    """The local filesystem, with every file written whole (:class:`_AtomicFile`)."""

    def __init__(self) -> None:
        self._fs = pyarrow.fs.LocalFileSystem()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_DurableLocalHandler, ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _DurableLocalHandler)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(_DurableLocalHandler)

    def get_type_name(self) -> str:
        return "raytune-hp-durable-local"

    def normalize_path(self, path: str) -> str:
        return str(self._fs.normalize_path(path))

    def get_file_info(self, paths: list[str]) -> list[pyarrow.fs.FileInfo]:
        return list(self._fs.get_file_info(paths))

    def get_file_info_selector(self, selector: pyarrow.fs.FileSelector) -> Any:
        return self._fs.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        try:
            self._fs.create_dir(path, recursive=recursive)
        except OSError as exc:
            error = StorageWriteError.of(path, _errno_of(exc))
            _remember(error)
            raise error from exc

    def delete_dir(self, path: str) -> None:
        if _CHECKPOINT_FOLDER.fullmatch(Path(path).name):
            _defer_delete(path)
            return
        self._fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise OSError(errno.EPERM, "refusing to empty the root folder")

    def delete_file(self, path: str) -> None:
        self._fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        with self._fs.open_input_stream(src) as source:
            data = source.read()
        with self.open_output_stream(dest, None) as stream:
            stream.write(data)

    def open_input_stream(self, path: str) -> Any:
        return self._fs.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self._fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return pyarrow.PythonFile(_AtomicFile(path), mode="w")

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self._fs.open_append_stream(path)


def durable_filesystem() -> pyarrow.fs.FileSystem:
    """The local filesystem for Ray Tune to write an experiment through: each file whole or not
    at all, and the first failed write remembered (:func:`first_failure`)."""
    return pyarrow.fs.PyFileSystem(_DurableLocalHandler())


_ERRNO = re.compile(r"\[Errno (\d+)\]|errno (\d+)", re.IGNORECASE)


def _errno_of(exc: OSError) -> OSError:
    """``exc``, with the errno that pyarrow's message names where it has none of its own."""
    if exc.errno is not None:
        return exc
    found = _ERRNO.search(str(exc))
    if not found:
        return exc
    code = int(found.group(1) or found.group(2))
    return OSError(code, os.strerror(code))


_WRITE_FAILURE = re.compile(r"(\S+) could not be written: (.+?) \((E[A-Z]+)\)")
_QUOTED_PATH = re.compile(r"'(/[^'\n]+)'")
_OS_FAILURE = re.compile(r"\[Errno (\d+)\] ([^:\n]+)(?:: '([^'\n]+)')?")


def failure_in(text: str) -> StorageWriteError | None:
    """The failed write that an error's text (a trial's ``error.txt``) tells of, if its cause is
    one of :data:`WRITE_ERRNOS`.

    Example:
        >>> print(failure_in("OSError: [Errno 28] No space left on device: '/runs/x/ckpt'"))
        /runs/x/ckpt could not be written: No space left on device (ENOSPC)
        >>> print(failure_in("OSError: [Errno 30] Cannot create directory '/runs/x/t1'. Detail: "
        ...                  "[errno 30] Read-only file system"))
        /runs/x/t1 could not be written: Read-only file system (EROFS)
        >>> failure_in("ValueError: bad shape") is None
        True
    """
    ours = _WRITE_FAILURE.search(text)
    if ours:
        code = getattr(errno, ours.group(3), None)
        if code in WRITE_ERRNOS:
            return StorageWriteError(ours.group(0), ours.group(1), code)
    for found in _OS_FAILURE.finditer(text):
        code = int(found.group(1))
        if code in WRITE_ERRNOS:
            quoted = _QUOTED_PATH.search(text)
            path = found.group(3) or (quoted.group(1) if quoted else "the experiment folder")
            return StorageWriteError.of(path, OSError(code, os.strerror(code)))
    return None


def write_guard() -> Any:
    """A Ray Tune callback that stops the run at the first write that failed for good (disk
    full, read-only, permission): the driver's own (:func:`first_failure`) or a trial's (its
    error). The run stops as Ctrl-C stops it: unfinished trials stay resumable and Ray keeps the
    last experiment state it wrote whole. :func:`raise_if_stopped` then raises the failure."""
    return _guard_class()()


_stopped: list[RaytuneHPError] = []


def raise_if_stopped() -> None:
    """Raises what stopped the run, if anything did (and forgets it).

    Raises:
        StorageWriteError: a write failed for good and the run was stopped.
        ExperimentLockedError: another driver took over the experiment's lease.
    """
    if _stopped:
        error = _stopped[0]
        _stopped.clear()
        raise error


@functools.cache
def _guard_class() -> type:
    from ray.tune import Callback

    class WriteGuard(Callback):  # type: ignore[misc]
        def __reduce__(self) -> tuple[Any, ...]:
            return (write_guard, ())  # by name: a resumed run shares this module's state

        def setup(self, *args: Any, **info: Any) -> None:
            forget_failures()
            _stopped.clear()
            _quiet_ray_about_write_failures()

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            self._stop(first_failure())
            if lease_lost():
                self._stop(
                    ExperimentLockedError(
                        "the experiment must be run by one driver at a time; got its lease "
                        "taken over by another driver (this one stopped; its trials are saved)"
                    )
                )

        def on_trial_recover(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._stop(_trial_failure(trial))

        def on_trial_error(
            self, iteration: int, trials: list[Any], trial: Any, **info: Any
        ) -> None:
            self._stop(_trial_failure(trial))

        def _stop(self, failure: RaytuneHPError | None) -> None:
            if failure is None or _stopped:
                return
            _stopped.append(failure)
            if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, signal.SIG_IGN, None):
                raise failure  # Ray catches no signal here (not the main thread): end the run
            # Ray Tune's own interrupt (as Ctrl-C): the loop ends, the state is saved.
            os.kill(os.getpid(), signal.SIGUSR1)

    return WriteGuard


class _WriteFailureFilter(logging.Filter):
    """Drops what Ray Tune logs about a failed write (a trial's traceback, a failed sync of its
    state) and, once the run is stopped for one, all it logs after: the driver says it in one
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("ray"):
            return True
        if _stopped and record.levelno >= logging.WARNING:  # what follows from the stop
            return False
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r} {record.exc_info[1]}"
        return failure_in(text) is None and "could not be written:" not in text


_FILTER = _WriteFailureFilter()


def _quiet_ray_about_write_failures() -> None:
    """Puts :class:`_WriteFailureFilter` on every handler that prints Ray's log records."""
    loggers = [logging.getLogger(), logging.getLogger("ray")]
    loggers += [
        logger
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.startswith("ray") and isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)


def _trial_failure(trial: Any) -> StorageWriteError | None:
    path = getattr(trial, "error_file", None)
    if not path:
        return None
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    return failure_in(text[-20_000:])


DAMAGED_SUFFIX = ".damaged"
"""What a resume appends to the name of an experiment state it cannot read (and to the files of
the same session), so that Ray Tune resumes from the newest one that is whole."""


def saved_trial_ids(store: ExperimentStore) -> set[str] | None:
    """The ids of the trials that the experiment states in ``store`` name (Ray Tune's
    ``trial_id``, as its scheduler and searcher know a trial), or ``None`` when one of them
    cannot be read whole (those are set aside before a resume reads any).

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> store = ExperimentStore(tempfile.mkdtemp())
        >>> store.write_text("experiment_state-1.json", json.dumps(
        ...     {"trial_data": [[json.dumps({"trial_id": "5be047ee"}), "{}"]]}))
        >>> saved_trial_ids(store)
        {'5be047ee'}
    """
    from raytune_hp.storage import STATE_GLOB

    ids: set[str] = set()
    for name in store.glob(STATE_GLOB):
        try:
            entries = json.loads(store.read_text(name))["trial_data"]
            ids.update(str(json.loads(entry[0])["trial_id"]) for entry in entries)
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            return None
    return ids


def readable_state(text: str) -> bool:
    """Whether ``text`` is a whole Ray Tune experiment state (JSON with its ``trial_data``).

    Example:
        >>> readable_state('{"trial_data": [], "runner_data": {}}'), readable_state('{"trial_da')
        (True, False)
    """
    try:
        state = json.loads(text)
    except ValueError:
        return False
    return isinstance(state, dict) and isinstance(state.get("trial_data"), list)


def set_aside_damaged_states(store: ExperimentStore) -> list[str]:
    """Renames each experiment state in ``store`` that is not whole (cut off by a full disk, say)
    out of Ray's way, with the searcher's and callbacks' files of the same driver session, so that
    a resume starts from the newest whole one; returns the names set aside.

    Ray Tune keeps one experiment state per driver session (``experiment_state-<session>.json``)
    and resumes from the newest by name: before, a cut-off newest state ended every resume.

    Raises:
        StorageWriteError: a damaged state could not be renamed.
        ExperimentExistsError: no whole state is left to resume from.
    """
    from raytune_hp.storage import STATE_GLOB

    moved = []
    for name in sorted(store.glob(STATE_GLOB)):
        try:
            whole = readable_state(store.read_text(name))
        except (OSError, UnicodeDecodeError):
            whole = False
        if whole:
            continue
        session = name.removeprefix("experiment_state-").removesuffix(".json")
        for other in store.glob(f"*-{session}.*"):
            if other.endswith(DAMAGED_SUFFIX):
                continue
            try:
                store.fs.move(store._join(other), store._join(other + DAMAGED_SUFFIX))
            except OSError as exc:
                raise StorageWriteError.of(store._join(other), exc) from exc
            moved.append(other)
    if moved and not store.glob(STATE_GLOB):
        raise ExperimentExistsError(
            f"--resume: {store.location} must hold a whole experiment state to resume from; got "
            f"only cut-off ones (set aside as *{DAMAGED_SUFFIX}): the trials' folders are read "
            "by `raytune-hp report`, and a new experiment can warm-start from them"
        )
    return moved


def damaged_files(store: ExperimentStore) -> list[str]:
    """One line per file of the experiment in ``store`` that cannot be read whole: experiment
    states (and those a resume set aside), trials' ``result.json`` with lines cut off, and
    ``params.json`` files that are not JSON. Empty for a sound folder.

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> store = ExperimentStore(tempfile.mkdtemp())
        >>> store.write_text("experiment_state-2024.json", '{"trial_da')
        >>> damaged_files(store)  # doctest: +ELLIPSIS
        ['.../experiment_state-2024.json: cut off or not JSON (an older state is used if whole)']
    """
    from raytune_hp.storage import STATE_GLOB, phase_folders

    lines = []
    for phase in ["", *phase_folders(store)]:
        folder = store.child(phase) if phase else store
        for name in sorted(folder.glob(STATE_GLOB)):
            if not readable_state(_text(folder, name)):
                lines.append(
                    f"{folder._join(name)}: cut off or not JSON (an older state is used if whole)"
                )
        for name in sorted(folder.glob(f"experiment_state-*{DAMAGED_SUFFIX}")):
            lines.append(f"{folder._join(name)}: cut off or not JSON (set aside by a resume)")
        for trial in sorted(_trial_folders(folder)):
            trial_folder = folder.child(trial)
            text = _text(trial_folder, "result.json")
            cut = [line for line in text.splitlines() if line.strip() and not _json_object(line)]
            if cut:
                lines.append(
                    f"{trial_folder._join('result.json')}: {len(cut)} line(s) cut off or not "
                    "JSON (left out)"
                )
            if trial_folder.exists("params.json") and not _json_object(
                _text(trial_folder, "params.json")
            ):
                lines.append(f"{trial_folder._join('params.json')}: cut off or not JSON")
    return lines


def _text(store: ExperimentStore, name: str) -> str:
    try:
        return store.read_text(name) if store.exists(name) else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _trial_folders(store: ExperimentStore) -> list[str]:
    """The sub-folders of ``store`` that hold a trial (its ``params.json`` or ``result.json``)."""
    import pyarrow.fs

    infos = store.fs.get_file_info(pyarrow.fs.FileSelector(store.path))
    folders = [info.base_name for info in infos if info.type == pyarrow.fs.FileType.Directory]
    return [
        name
        for name in folders
        if store.child(name).exists("params.json") or store.child(name).exists("result.json")
    ]


def ray_filesystem(store: ExperimentStore) -> pyarrow.fs.FileSystem:
    """The filesystem Ray Tune writes the experiment in ``store`` through: on a local disk
    :func:`durable_filesystem` (a path names its folder), elsewhere the store's own (an object
    store's single PUT is already whole)."""
    if isinstance(store.fs, pyarrow.fs.LocalFileSystem):
        return durable_filesystem()
    return store.fs


def trials_missing_from_state(
    folder: ExperimentStore, trial_data: list[Any], max_epochs: int
) -> list[tuple[str, str]]:
    """Entries in the form of Ray's ``trial_data`` for the trial folders in ``folder`` that the
    experiment state does not name: trials that ran after the newest whole state was written
    (the newer one was cut off). Each is rebuilt from its ``params.json`` and ``result.json``:
    ended if it trained ``max_epochs`` epochs, else running (a resume did not pick it up).

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> store = ExperimentStore(tempfile.mkdtemp())
        >>> store.child("003_adam").write_text("params.json", '{"lr": 0.1}')
        >>> store.child("003_adam").write_text("result.json", '{"epoch": 2}\\n')
        >>> trial, _ = trials_missing_from_state(store, [], max_epochs=2)[0]
        >>> json.loads(trial)["status"], json.loads(trial)["config"]
        ('TERMINATED', {'lr': 0.1})
    """
    named = set()
    for trial_json, _ in trial_data:
        trial = json.loads(trial_json)
        named.add(str(trial.get("relative_logdir") or trial.get("trial_id")))
    missing = []
    for name in sorted(_trial_folders(folder)):
        trial_folder = folder.child(name)
        if name in named or not _json_object(_text(trial_folder, "params.json")):
            continue
        epochs = [
            row.get("epoch")
            for row in map(_json_or_none, _text(trial_folder, "result.json").splitlines())
            if isinstance(row, dict)
        ]
        ended = max((e for e in epochs if isinstance(e, int | float)), default=0) >= max_epochs
        trial = {
            "trial_id": name,
            "relative_logdir": name,
            "status": "TERMINATED" if ended else "RUNNING",
            "config": json.loads(_text(trial_folder, "params.json")),
        }
        missing.append((json.dumps(trial), "{}"))
    return missing


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
