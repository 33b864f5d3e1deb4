"""One driver per experiment: a lock in the experiment folder, taken before anything is written
and held for the driver's life.

On a local (or NFS) folder the lock is an OS file lock (``flock``) on ``.driver.lock``: the
kernel releases it when the driver dies, however it dies, so a folder left by a killed driver
is resumed without ceremony. The file also names its holder (host, pid, since when), which is
what a refused driver prints.

On an object store (``s3://``, ``gs://``) there is no lock to hold, so the lock is a lease: the
object ``.driver.lease`` names its holder and when it expires, and a thread renews it every
:data:`LEASE_RENEW_S`; a lease not renewed for :data:`LEASE_TTL_S` (its driver died) is taken
over. Object stores reached through pyarrow offer no conditional write, so two drivers that read
"no lease" at the same instant could both write one: each reads its lease back after
:data:`LEASE_SETTLE_S`, and only the one whose lease is there goes on (the store keeps the last
write); a driver whose renewal finds another's lease stops (:func:`lease_lost`). What is left is
a window of about one round trip in which both wrote and neither read yet.

Example:
    >>> import tempfile
    >>> from raytune_hp.storage import ExperimentStore
    >>> store = ExperimentStore(tempfile.mkdtemp())
    >>> with driver_lock(store):
    ...     store.exists(LOCK_FILE)
    True
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from raytune_hp.errors import ExperimentLockedError, StorageWriteError

if TYPE_CHECKING:
    from raytune_hp.storage import ExperimentStore

LOCK_FILE = ".driver.lock"
LEASE_FILE = ".driver.lease"
LEASE_TTL_S = 120.0
"""How long a lease holds without renewal: a driver that died is taken over after this."""
LEASE_RENEW_S = 20.0
LEASE_SETTLE_S = 2.0

_lost = threading.Event()


def lease_lost() -> bool:
    """Whether this process's lease was taken by another driver (renewal found theirs)."""
    return _lost.is_set()


def holder_line(holder: dict[str, Any]) -> str:
    """How a refusal names the driver that holds the lock.

    Example:
        >>> holder_line({"host": "gpu-1", "pid": 4242, "since": "2024-05-01T10:00:00+00:00"})
        'host gpu-1, pid 4242, since 2024-05-01T10:00:00+00:00'
    """
    return (
        f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
        f"since {holder.get('since', '?')}"
    )


def _me() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": now}


def _refusal(store: ExperimentStore, holder: dict[str, Any] | None) -> ExperimentLockedError:
    who = holder_line(holder) if holder else "a driver that has not named itself yet"
    return ExperimentLockedError(
        f"{store.location} must be run by one driver at a time; got another holding it: {who} "
        "(wait for it to end or stop it, then resume)"
    )


@contextlib.contextmanager
def driver_lock(store: ExperimentStore) -> Iterator[None]:
    """Holds the experiment's lock while the block runs, creating the folder if needed.

    Raises:
        ExperimentLockedError: another live driver holds it.
        StorageWriteError: the folder or the lock cannot be written.
    """
    import pyarrow.fs

    if isinstance(store.fs, pyarrow.fs.LocalFileSystem):
        with _file_lock(store):
            yield
    else:
        with _lease(store):
            yield


@contextlib.contextmanager
def _file_lock(store: ExperimentStore) -> Iterator[None]:
    import fcntl

    path = f"{store.path}/{LOCK_FILE}"
    try:
        os.makedirs(store.path, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageWriteError.of(path, exc) from exc
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refusal(store, _read_holder(handle)) from None
        try:
            # Written in place (the lock is on this file, not on a name): a reader may catch it
            # half-written, and then says the holder has not named itself yet.
            os.ftruncate(handle, 0)
            os.pwrite(handle, json.dumps(_me()).encode(), 0)
            os.fsync(handle)
        except OSError as exc:
            raise StorageWriteError.of(path, exc) from exc
        yield
        if not holds_anything(store):  # a new experiment refused before it wrote anything
            with contextlib.suppress(OSError):
                os.unlink(path)
                os.rmdir(store.path)
    finally:
        os.close(handle)  # releases the flock


def _read_holder(handle: int) -> dict[str, Any] | None:
    for _ in range(10):  # the holder may be writing its name right now
        try:
            holder = json.loads(os.pread(handle, 4096, 0))
            if isinstance(holder, dict):
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return None


@contextlib.contextmanager
def _lease(store: ExperimentStore) -> Iterator[None]:
    token = uuid.uuid4().hex
    mine = {**_me(), "token": token}
    current = _read_lease(store)
    if current is not None and current.get("expires", 0) > time.time():
        raise _refusal(store, current)
    _write_lease(store, mine)
    time.sleep(LEASE_SETTLE_S)
    current = _read_lease(store)
    if current is None or current.get("token") != token:
        raise _refusal(store, current)
    _lost.clear()
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(store, mine, stop), name="raytune-hp-lease", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=10)
        with contextlib.suppress(OSError):
            if (_read_lease(store) or {}).get("token") == token:
                store.fs.delete_file(f"{store.path}/{LEASE_FILE}")


def _renew(store: ExperimentStore, mine: dict[str, Any], stop: threading.Event) -> None:
    while not stop.wait(LEASE_RENEW_S):
        try:
            current = _read_lease(store)
            if current is not None and current.get("token") != mine["token"]:
                _lost.set()
                return
            _write_lease(store, mine)
        except (OSError, StorageWriteError):
            continue  # a store that did not answer: the next round tries again


def _write_lease(store: ExperimentStore, lease: dict[str, Any]) -> None:
    stamped = {**lease, "heartbeat": time.time(), "expires": time.time() + LEASE_TTL_S}
    store.write_text(LEASE_FILE, json.dumps(stamped) + "\n")


def _read_lease(store: ExperimentStore) -> dict[str, Any] | None:
    try:
        if not store.exists(LEASE_FILE):
            return None
        lease = json.loads(store.read_text(LEASE_FILE))
    except (OSError, ValueError):
        return None
    return lease if isinstance(lease, dict) else None


def holds_anything(store: ExperimentStore) -> bool:
    """Whether the folder holds anything but its lock: a new experiment needs it empty.

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> store = ExperimentStore(tempfile.mkdtemp())
        >>> with driver_lock(store):
        ...     holds_anything(store)
        False
    """
    return any(name not in (LOCK_FILE, LEASE_FILE) for name in store.glob("*"))
