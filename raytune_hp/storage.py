"""Where an experiment folder lives and what it holds.

The folder is a local path, or a URI on shared storage (``s3://``, ``gs://``, ``file://``), read
and written through one pyarrow filesystem either way. It holds ``config.yaml`` (the config as
run), Ray Tune's experiment state (``experiment_state-*.json``) and trial folders, then the
reports: ``summary.md``, ``best_config.yaml`` and ``plots/``. A coarse-to-fine experiment keeps
Ray's state and trials of each phase in ``coarse/`` and ``fine/``, with the narrowed
``fine_space.yaml`` beside them; each run that grew a finished experiment keeps its own in
``more-1/``, ``more-2/``, ....

Example:
    >>> store = ExperimentStore.of("runs", "quickstart")
    >>> store.location.endswith("/runs/quickstart")
    True
    >>> ExperimentStore.of("s3://bucket/runs?region=us-west-2", "x").location
    's3://bucket/runs/x?region=us-west-2'
    >>> store.child(PHASES[0]).location.endswith("/runs/quickstart/coarse")
    True

A store inside an experiment folder remembers where it sits in it (``relative``): Ray Tune
pickles the objects that hold one (the ASHA rung store, callbacks, the budget's stopper) into its
state, and a folder copied or moved elsewhere must not write into its old place when it resumes.
While :func:`rooted_at` is active, such a store unpickles under the folder being run.

    >>> import pickle
    >>> moved = ExperimentStore.of("/elsewhere", "quickstart")
    >>> with rooted_at(moved):
    ...     pickle.loads(pickle.dumps(store.child("coarse"))).location
    '/elsewhere/quickstart/coarse'
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raytune_hp.errors import StorageWriteError

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.md"
BEST_CONFIG_FILE = "best_config.yaml"
FINE_SPACE_FILE = "fine_space.yaml"
BUDGET_FILE = "budget.json"
"""Under ``search.budget``: the wall time spent so far, the trials stopped at the budget's end and
the runs whose budget ran out (:class:`raytune_hp.budget.BudgetRecord`)."""
PLOTS_DIR = "plots"
PHASES = ("coarse", "fine")
"""The phase folders of a coarse-to-fine experiment, in the order they run."""
MORE = "more-{}"
"""The folder of each run that grew a finished experiment (``tune --resume`` with a larger
``search.num_samples``): ``more-1``, ``more-2``, ..."""
STATE_GLOB = "experiment_state-*.json"
"""Ray Tune's experiment state: its presence makes a folder (or a phase folder) an experiment."""


def is_uri(storage: str) -> bool:
    """Whether ``storage`` names a filesystem by scheme (``s3://...``) rather than a path."""
    return "://" in storage


@dataclass(frozen=True)
class ExperimentStore:
    """The experiment folder ``location`` (absolute path or URI) and its filesystem.

    ``relative`` is where it sits in an experiment folder (``""``: it is one; ``"coarse"``: a
    phase of one), or ``None`` for a folder that is not part of an experiment's own.
    """

    location: str
    relative: str | None = field(default=None, repr=False, compare=False)
    fs: Any = field(init=False, repr=False, compare=False)
    path: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(self.location)
        object.__setattr__(self, "fs", fs)
        object.__setattr__(self, "path", path)

    @classmethod
    def of(cls, storage: str, name: str) -> ExperimentStore:
        """The folder ``name`` under ``storage`` (a URI's query, e.g. an endpoint, stays last)."""
        if not is_uri(storage):
            return cls(str((Path(storage).expanduser() / name).resolve()), "")
        base, sep, query = storage.partition("?")
        return cls(f"{base.rstrip('/')}/{name}{sep}{query}", "")

    @property
    def is_local(self) -> bool:
        return not is_uri(self.location)

    def child(self, name: str) -> ExperimentStore:
        """A sub-folder (a coarse-to-fine phase) as a store of its own."""
        relative = None if self.relative is None else f"{self.relative}/{name}".lstrip("/")
        if self.is_local:
            return ExperimentStore(str(Path(self.location) / name), relative)
        base, sep, query = self.location.partition("?")
        return ExperimentStore(f"{base}/{name}{sep}{query}", relative)

    def __reduce__(self) -> tuple[Any, tuple[str, str | None]]:
        return _unpickled_store, (self.location, self.relative)

    def exists(self, name: str = "") -> bool:
        import pyarrow.fs

        return self.fs.get_file_info(self._join(name)).type != pyarrow.fs.FileType.NotFound

    def glob(self, pattern: str) -> list[str]:
        """Names of the entries directly in the folder that match ``pattern``."""
        import pyarrow.fs

        if not self.exists():
            return []
        infos = self.fs.get_file_info(pyarrow.fs.FileSelector(self.path))
        return [info.base_name for info in infos if fnmatch.fnmatch(info.base_name, pattern)]

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self._join(name)) as stream:
            return bytes(stream.read())

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def write_bytes(self, name: str, data: bytes) -> None:
        """Writes a whole file at once (:func:`write_atomically`): a reader, a crash or a full
        disk never leaves half of it, only the old version or the new one.

        Raises:
            StorageWriteError: the folder cannot be written (disk full, read-only, permission).
        """
        import pyarrow.fs

        if isinstance(self.fs, pyarrow.fs.LocalFileSystem):  # a path, or a file:// URI
            write_atomically(self._join(name), data)
            return
        try:
            self.fs.create_dir(self.path, recursive=True)
            # One PUT on an object store: the object appears whole or not at all.
            with self.fs.open_output_stream(self._join(name)) as stream:
                stream.write(data)
        except OSError as exc:
            raise StorageWriteError.of(self._join(name), exc) from exc

    def upload(self, local_dir: str | Path) -> None:
        """Copies the files of ``local_dir`` into the folder."""
        import pyarrow.fs

        self.fs.create_dir(self.path, recursive=True)
        pyarrow.fs.copy_files(
            str(local_dir),
            self.path,
            source_filesystem=pyarrow.fs.LocalFileSystem(),
            destination_filesystem=self.fs,
        )

    def _join(self, name: str) -> str:
        return f"{self.path}/{name}" if name else self.path


_ROOT: list[ExperimentStore] = []
"""The experiment folder being run, while :func:`rooted_at` is active."""


@contextlib.contextmanager
def rooted_at(store: ExperimentStore) -> Iterator[None]:
    """While active, a store of an experiment folder that is unpickled (from Ray Tune's state)
    is the same place under ``store``: resuming a folder that was copied or moved writes into
    its new place only."""
    _ROOT.append(store)
    try:
        yield
    finally:
        _ROOT.pop()


def _unpickled_store(location: str, relative: str | None) -> ExperimentStore:
    if relative is None or not _ROOT:
        return ExperimentStore(location, relative)
    store = _ROOT[-1]
    for name in filter(None, relative.split("/")):
        store = store.child(name)
    return store


def write_atomically(path: str | Path, data: bytes) -> None:
    """Writes the local file ``path`` whole or not at all: into a temporary file beside it,
    flushed to the disk, then renamed over it (and the rename flushed too), so that a crash, a
    full disk or a reader at the wrong moment finds the old version or the new one, never half.

    Every file raytune-hp writes goes through here (or :meth:`ExperimentStore.write_bytes`).

    Raises:
        StorageWriteError: the write failed (disk full, read-only, permission); the old file is
            kept and no temporary file is left.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> write_atomically(folder / "sub" / "a.txt", b"new")
        >>> (folder / "sub" / "a.txt").read_bytes(), [p.name for p in (folder / "sub").iterdir()]
        (b'new', ['a.txt'])
    """
    target = Path(path)
    partial = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
        partial = None
        _fsync_folder(target.parent)
    except OSError as exc:
        raise StorageWriteError.of(str(target), exc) from exc
    finally:
        if partial is not None:
            with contextlib.suppress(OSError):
                os.unlink(partial)


def _fsync_folder(folder: Path) -> None:
    """Flushes a folder's entries (a rename in it) to the disk, where the system allows."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some filesystems cannot fsync a folder; the rename itself is still atomic
    finally:
        os.close(handle)


def as_store(where: ExperimentStore | str | Path) -> ExperimentStore:
    """An experiment folder given as a store, a local path or a URI."""
    if isinstance(where, ExperimentStore):
        return where
    return ExperimentStore(str(where) if is_uri(str(where)) else str(Path(where).resolve()))


def is_experiment(where: ExperimentStore | str | Path, own_config: bool = True) -> bool:
    """Whether ``where`` holds an experiment: Ray's experiment state (at the top or in its phase
    folders) and, with ``own_config``, raytune-hp's ``config.yaml``."""
    store = as_store(where)
    folders = [store, *(store.child(phase) for phase in phase_folders(store))]
    has_state = any(folder.glob(STATE_GLOB) for folder in folders)
    return has_state and (not own_config or store.exists(CONFIG_FILE))


def phase_folders(store: ExperimentStore) -> list[str]:
    """The experiment's sub-folders that hold a run of their own, in the order they ran: the
    coarse-to-fine phases, then each run that grew it (``more-1``, ``more-2``, ...)."""
    names = [phase for phase in PHASES if store.child(phase).glob(STATE_GLOB)]
    grown = 1
    while store.child(MORE.format(grown)).glob(STATE_GLOB):
        names.append(MORE.format(grown))
        grown += 1
    return names
