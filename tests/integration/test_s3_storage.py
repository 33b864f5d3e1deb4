"""An experiment whose storage is S3: a real S3 server (moto's) on loopback, reached through the
same ``s3://`` URI a cluster would use. Trials write their results and checkpoints there; the
reports are read back from there; a folder synced to another prefix resumes there only."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raytune_hp.config import load_config
from raytune_hp.driver_lock import LEASE_FILE, driver_lock
from raytune_hp.errors import ExperimentExistsError, ExperimentLockedError
from raytune_hp.experiment import run_experiment
from raytune_hp.storage import ExperimentStore

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_uri() -> Iterator[str]:
    import pyarrow.fs

    port = _free_port()
    # Credentials for the local server only; set before Ray starts so its workers inherit them.
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the S3 server did not start"
                time.sleep(0.2)
        endpoint = f"127.0.0.1:{port}"
        s3 = pyarrow.fs.S3FileSystem(
            endpoint_override=endpoint, scheme="http", allow_bucket_creation=True
        )
        s3.create_dir("experiments")
        yield f"s3://experiments/runs?endpoint_override={endpoint}&scheme=http"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def ray_on_s3(s3_uri: str) -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_an_experiment_lives_entirely_on_s3(s3_uri: str, ray_on_s3: None) -> None:
    tiny = [
        "search.num_samples=2",
        "train.max_epochs=2",
        "early_stopping.name=none",
        "space.num_kernels=100",
        "name=on-s3",
    ]
    config = load_config(QUICKSTART, [*tiny, f"storage={s3_uri}"])
    result = run_experiment(config)
    assert result.location.startswith("s3://experiments/runs/on-s3?")
    assert [t.status for t in result.trials] == ["completed", "completed"]

    store = ExperimentStore.of(s3_uri, "on-s3")
    names = set(store.glob("*"))
    assert {"config.yaml", "summary.md", "best_config.yaml"} <= names
    # TensorBoard's runs are the trials: no empty run for the experiment's root.
    assert not any(name.startswith("events.out.tfevents") for name in names)
    for trial in result.trials:
        folder = store.child(trial.name)
        files = set(folder.glob("*"))
        assert "result.json" in files and any(f.startswith("events.out.tfevents") for f in files)
        # How the trial ended, written by the driver straight to S3.
        assert any(f.startswith("events.out.tfevents") and f.endswith(".end") for f in files)
        assert any(f.startswith("checkpoint_") for f in files)
    summary = store.read_text("summary.md")
    assert all(trial.name in summary for trial in result.trials)

    with pytest.raises(ExperimentExistsError):
        run_experiment(config)


def _objects(store: ExperimentStore) -> dict[str, str]:
    """Every object under the folder, by path, with its SHA-256."""
    import pyarrow.fs

    infos = store.fs.get_file_info(pyarrow.fs.FileSelector(store.path, recursive=True))
    return {
        info.path: hashlib.sha256(store.fs.open_input_stream(info.path).read()).hexdigest()
        for info in infos
        if info.type == pyarrow.fs.FileType.File
    }


def _interrupt_once(store: ExperimentStore, epochs: int) -> threading.Thread:
    """Ctrl-C to this process once some trial is between its first and its last epoch."""

    def mid_run() -> bool:
        for name in store.glob("0*"):
            results = store.child(name)
            if results.exists("result.json"):
                lines = results.read_text("result.json").splitlines()
                if 0 < len(lines) < epochs:
                    return True
        return False

    def watch() -> None:
        deadline = time.monotonic() + 150
        while not mid_run() and time.monotonic() < deadline:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_folder_synced_to_another_prefix_resumes_there_only(s3_uri: str, ray_on_s3: None) -> None:
    import pyarrow.fs

    samples, epochs = 3, 4
    tiny = [
        f"search.num_samples={samples}",
        f"train.max_epochs={epochs}",
        "search.max_concurrent=2",
        "early_stopping.grace_period=1",
        "space.num_kernels=100",
        "space.batch_size=32",
        "name=to-sync",
    ]
    config = load_config(QUICKSTART, [*tiny, f"storage={s3_uri}"])
    original = ExperimentStore.of(s3_uri, "to-sync")
    watcher = _interrupt_once(original, epochs)
    assert run_experiment(config).interrupted
    watcher.join()

    # What `aws s3 sync s3://.../runs/to-sync s3://.../synced/to-sync` does.
    elsewhere = s3_uri.replace("/runs?", "/synced?")
    copy = ExperimentStore.of(elsewhere, "to-sync")
    pyarrow.fs.copy_files(
        original.path, copy.path, source_filesystem=original.fs, destination_filesystem=copy.fs
    )
    before = _objects(original)

    moved = load_config(QUICKSTART, [*tiny, f"storage={elsewhere}"])
    result = run_experiment(moved, resume=True)
    assert not result.interrupted and len(result.trials) == samples
    assert result.location == copy.location
    assert _objects(original) == before  # nothing written under the original prefix


def test_a_live_lease_refuses_a_second_driver_and_an_expired_one_is_taken_over(
    s3_uri: str, ray_on_s3: None
) -> None:
    """On the experiment the test above ran (its folder on S3)."""
    config = load_config(QUICKSTART, ["name=on-s3", f"storage={s3_uri}"])
    store = ExperimentStore.of(s3_uri, "on-s3")
    holder = {"host": "gpu-7", "pid": 4242, "since": "2024-05-01T10:00:00+00:00", "token": "t"}
    store.write_text(LEASE_FILE, json.dumps({**holder, "expires": time.time() + 600}))
    with pytest.raises(ExperimentLockedError, match="host gpu-7, pid 4242, since 2024-05-01"):
        run_experiment(config, resume=True)

    store.write_text(LEASE_FILE, json.dumps({**holder, "expires": time.time() - 1}))  # it died
    result = run_experiment(config, resume=True)
    assert [t.status for t in result.trials] == ["completed", "completed"]
    assert not store.exists(LEASE_FILE)  # given back by the driver that took it over


def _race(store: ExperimentStore) -> list[str]:
    """Two drivers taking the lock on ``store`` at the same instant: what each got."""
    started, release, outcomes = threading.Barrier(2), threading.Event(), []

    def driver() -> None:
        started.wait()
        try:
            with driver_lock(store):
                outcomes.append("held")
                release.wait(timeout=30)
        except ExperimentLockedError as exc:
            outcomes.append(str(exc))
            release.set()

    threads = [threading.Thread(target=driver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


def test_of_two_drivers_racing_for_an_s3_lease_exactly_one_gets_it(s3_uri: str) -> None:
    """S3's conditional writes (moto's server has them): no settling time, no window."""
    for attempt in range(5):
        store = ExperimentStore.of(s3_uri, f"race-{attempt}")
        outcomes = _race(store)
        assert len(outcomes) == 2 and outcomes[0] == "held", outcomes
        assert "must be run by one driver at a time" in outcomes[1]
        assert not store.exists(LEASE_FILE)
