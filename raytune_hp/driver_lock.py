"""One driver per experiment: a lock in the experiment folder, taken before anything is written
and held for the driver's life.

On a local (or NFS) folder the lock is an OS file lock (``flock``) on ``.driver.lock``: the
kernel releases it when the driver dies, however it dies, so a folder left by a killed driver
is resumed without ceremony. The file also names its holder (host, pid, since when), which is
what a refused driver prints.

On an object store (``s3://``, ``gs://``) there is no lock to hold, so the lock is a lease: the
object ``.driver.lease`` names its holder and when it expires, and a thread renews it every
:data:`LEASE_RENEW_S`; a lease not renewed for :data:`LEASE_TTL_S` (its driver died) is taken
over. On S3, where boto3 is installed (not a dependency: ``pip install boto3``), every lease
write is conditional: a new lease only where there is none (``If-None-Match: *``), a renewal or
a take-over only over the version read (``If-Match``), so of two drivers exactly one gets it.
Elsewhere (GCS through
pyarrow, which offers no conditional write) two drivers that read "no lease" at the same instant
could both write one: each reads its lease back after :data:`LEASE_SETTLE_S`, and only the one
whose lease is there goes on (the store keeps the last write). What is left there is a window
of about one round trip in which both wrote and neither read yet. Either way a driver whose
renewal finds another's lease stops (:func:`lease_lost`).

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
    created = _first_missing(store.path)  # the folders the lock makes, to remove if unused
    try:
        os.makedirs(store.path, exist_ok=True)
        # Held open read-only: a file open for writing all run long would keep the filesystem
        # busy (an admin could not remount it read-only, say).
        handle = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
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
            writer = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(writer, json.dumps(_me()).encode())
                os.fsync(writer)
            finally:
                os.close(writer)
        except OSError as exc:
            raise StorageWriteError.of(path, exc) from exc
        try:
            yield
        finally:
            if created is not None and not holds_anything(store):  # refused before it wrote
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    folder = store.path
                    while True:
                        os.rmdir(folder)
                        if folder == created:
                            break
                        folder = os.path.dirname(folder)
    finally:
        os.close(handle)  # releases the flock


def _first_missing(path: str) -> str | None:
    """The outermost folder of ``path`` (or ``path`` itself) that does not exist yet, if any."""
    missing = None
    while not os.path.exists(path):
        missing, path = path, os.path.dirname(path)
    return missing


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


class _Leases:
    """The lease object, written as pyarrow can: no condition, the last write wins (GCS, and S3
    without boto3). A write is checked by reading it back after :data:`LEASE_SETTLE_S`."""

    settle = True

    def __init__(self, store: ExperimentStore) -> None:
        self.store = store

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        """The lease and a version to write over it with (here: none)."""
        return _read_lease(self.store), None

    def write(self, lease: dict[str, Any], over: str | None) -> str | None:
        """Writes ``lease`` (where the store allows: only over version ``over``, or only where
        there is none when ``over`` is ``None``); its new version, or ``None`` where another
        driver's write came first."""
        _write_lease(self.store, lease)
        return ""

    def delete(self) -> None:
        self.store.fs.delete_file(f"{self.store.path}/{LEASE_FILE}")


class _S3Leases(_Leases):
    """The lease object on S3 through boto3, whose conditional writes close the race: a lease
    is created only where none exists (``If-None-Match: *``) and replaced only in the version
    read (``If-Match: <ETag>``), so of two drivers exactly one gets it."""

    settle = False

    def __init__(self, store: ExperimentStore, client: Any, bucket: str, key: str) -> None:
        super().__init__(store)
        self.client, self.bucket, self.key = client, bucket, key

    @classmethod
    def of(cls, store: ExperimentStore) -> _S3Leases | None:
        """For an ``s3://`` store where boto3 is installed; ``None`` otherwise."""
        import urllib.parse

        if not store.location.startswith("s3://"):
            return None
        try:
            import boto3
        except ImportError:
            return None
        base, _, query = store.location.partition("?")
        options = {key: values[-1] for key, values in urllib.parse.parse_qs(query).items()}
        endpoint = options.get("endpoint_override")
        scheme = options.get("scheme", "https")
        client = boto3.client(
            "s3",
            endpoint_url=f"{scheme}://{endpoint}" if endpoint else None,
            region_name=options.get("region"),
        )
        bucket, _, prefix = base.removeprefix("s3://").partition("/")
        return cls(store, client, bucket, f"{prefix.rstrip('/')}/{LEASE_FILE}".lstrip("/"))

    def read(self) -> tuple[dict[str, Any] | None, str | None]:
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.NoSuchKey:
            return None, None
        try:
            lease = json.loads(found["Body"].read())
        except ValueError:
            lease = None
        return (lease if isinstance(lease, dict) else None), found["ETag"]

    def write(self, lease: dict[str, Any], over: str | None) -> str | None:
        from botocore.exceptions import ClientError

        stamped = {**lease, "heartbeat": time.time(), "expires": time.time() + LEASE_TTL_S}
        condition = {"IfNoneMatch": "*"} if over is None else {"IfMatch": over}
        try:
            written = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=json.dumps(stamped).encode(), **condition
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status in (409, 412):  # another driver wrote first
                return None
            raise OSError(f"{self.bucket}/{self.key}: {exc}") from exc
        return str(written["ETag"])

    def delete(self) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key)


@contextlib.contextmanager
def _lease(store: ExperimentStore) -> Iterator[None]:
    leases = _S3Leases.of(store) or _Leases(store)
    token = uuid.uuid4().hex
    mine = {**_me(), "token": token}
    current, version = leases.read()
    if current is not None and current.get("expires", 0) > time.time():
        raise _refusal(store, current)
    if leases.write(mine, version) is None:
        raise _refusal(store, leases.read()[0])
    if leases.settle:
        time.sleep(LEASE_SETTLE_S)
        current, _ = leases.read()
        if current is None or current.get("token") != token:
            raise _refusal(store, current)
    _lost.clear()
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(leases, mine, stop), name="raytune-hp-lease", daemon=True
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=10)
        with contextlib.suppress(OSError, StorageWriteError):
            if (leases.read()[0] or {}).get("token") == token:
                leases.delete()


def _renew(leases: _Leases, mine: dict[str, Any], stop: threading.Event) -> None:
    while not stop.wait(LEASE_RENEW_S):
        try:
            current, version = leases.read()
            lost = current is not None and current.get("token") != mine["token"]
            if lost or leases.write(mine, version) is None:
                _lost.set()
                return
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


def refuse_if_held(store: ExperimentStore) -> None:
    """Raises if a driver holds the experiment's lock now, without taking it or writing anything
    (a command refused for another reason names the driver running the experiment first).

    Raises:
        ExperimentLockedError: a live driver holds it.

    Example:
        >>> import tempfile
        >>> from raytune_hp.storage import ExperimentStore
        >>> refuse_if_held(ExperimentStore(tempfile.mkdtemp()))  # no lock: nothing to say
    """
    import pyarrow.fs

    if not isinstance(store.fs, pyarrow.fs.LocalFileSystem):
        lease = _read_lease(store)
        if lease is not None and lease.get("expires", 0) > time.time():
            raise _refusal(store, lease)
        return
    import fcntl

    try:
        handle = os.open(f"{store.path}/{LOCK_FILE}", os.O_RDONLY)
    except OSError:
        return  # no lock file: no driver
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refusal(store, _read_holder(handle)) from None
    finally:
        os.close(handle)


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
