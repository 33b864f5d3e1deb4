"""One driver per experiment: a second driver is refused with the holder named, a dead
driver's lock is taken over; on real folders (a second process holds the lock) and on an object
store (pyarrow's in-memory one, which has what S3 has: no lock, last write wins)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raytune_hp import driver_lock as lock_module
from raytune_hp.driver_lock import (
    LEASE_FILE,
    LOCK_FILE,
    driver_lock,
    holds_anything,
    refuse_if_held,
)
from raytune_hp.errors import ExperimentLockedError
from raytune_hp.storage import ExperimentStore

HOLDER = """
import sys, time
from raytune_hp.driver_lock import driver_lock
from raytune_hp.storage import ExperimentStore
with driver_lock(ExperimentStore(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold(folder: Path) -> subprocess.Popen[str]:
    """Another process that takes the lock on ``folder`` and keeps it for a minute."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_driver_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    holder = _hold(tmp_path / "exp")
    try:
        with (
            pytest.raises(ExperimentLockedError) as refused,
            driver_lock(ExperimentStore(str(tmp_path / "exp"))),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'exp'} must be run by one driver at a time; got")
    assert f"pid {holder.pid}, since 20" in message and "host " in message
    assert "\n" not in message


def test_a_held_lock_is_seen_without_taking_it_or_writing(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path / "exp"))
    holder = _hold(tmp_path / "exp")
    try:
        written = (tmp_path / "exp" / LOCK_FILE).stat().st_mtime_ns
        with pytest.raises(ExperimentLockedError, match=f"pid {holder.pid}, since 20"):
            refuse_if_held(store)
        assert (tmp_path / "exp" / LOCK_FILE).stat().st_mtime_ns == written
    finally:
        holder.kill()
        holder.wait()
    refuse_if_held(store)  # its driver is gone


def test_a_killed_drivers_lock_is_taken_without_ceremony(tmp_path: Path) -> None:
    holder = _hold(tmp_path / "exp")
    holder.send_signal(signal.SIGKILL)  # the kernel releases its flock
    holder.wait()
    with driver_lock(ExperimentStore(str(tmp_path / "exp"))):
        holder_now = json.loads((tmp_path / "exp" / LOCK_FILE).read_text())
    assert holder_now["pid"] == os.getpid()


def test_a_lock_taken_for_nothing_leaves_no_folder(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path / "exp"))
    with driver_lock(store):
        assert not holds_anything(store)
    assert not (tmp_path / "exp").exists()
    with driver_lock(store):
        store.write_text("config.yaml", "name: exp\n")
    assert sorted(os.listdir(tmp_path / "exp")) == [LOCK_FILE, "config.yaml"]


@pytest.fixture
def object_store(monkeypatch: pytest.MonkeyPatch) -> ExperimentStore:
    """A folder on an in-memory object store, leases settling at once."""
    monkeypatch.setattr(lock_module, "LEASE_SETTLE_S", 0.0)
    return ExperimentStore("mock:///bucket/runs/exp")


def test_a_live_lease_refuses_a_second_driver(object_store: ExperimentStore) -> None:
    with driver_lock(object_store):
        lease = json.loads(object_store.read_text(LEASE_FILE))
        assert lease["pid"] == os.getpid() and lease["expires"] > time.time()
        refused = pytest.raises(ExperimentLockedError, match=f"pid {os.getpid()}, since 20")
        with refused, driver_lock(object_store):
            pass
    assert not object_store.exists(LEASE_FILE)  # given back at the end


def test_an_expired_lease_is_taken_over(object_store: ExperimentStore) -> None:
    dead = {"host": "gone", "pid": 1, "since": "2024-01-01T00:00:00+00:00", "token": "x"}
    object_store.write_text(LEASE_FILE, json.dumps({**dead, "expires": time.time() - 1}))
    with driver_lock(object_store):
        assert json.loads(object_store.read_text(LEASE_FILE))["pid"] == os.getpid()


def test_a_lease_overwritten_by_another_driver_is_lost(
    object_store: ExperimentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_module, "LEASE_RENEW_S", 0.05)
    with driver_lock(object_store):
        other = {"host": "h", "pid": 2, "since": "s", "token": "theirs", "expires": 1e12}
        object_store.write_text(LEASE_FILE, json.dumps(other))
        deadline = time.monotonic() + 5
        while not lock_module.lease_lost() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock_module.lease_lost()
    assert object_store.exists(LEASE_FILE)  # theirs: not deleted by the driver that lost it
