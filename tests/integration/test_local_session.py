"""A local Ray session that raytune-hp starts: its trials run in the worker processes Ray starts
with it, rather than each waiting for a new one (benchmarks/results/startup.md measures the
seconds); Ray Tune's setting for them is kept, and given back afterwards."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import ray
from ray.tune.execution.class_cache import DEFAULT_ENV_VARS, _ActorClassCache

from raytune_hp.experiment import _ray_session

pytestmark = pytest.mark.slow


class Probe:
    """Stands in for a trial's trainable: where it runs, and what its environment holds."""

    def where(self) -> tuple[int, str | None]:
        return os.getpid(), os.environ.get("PL_DISABLE_FORK")


def _idle_workers(raylet: int) -> set[int]:
    """The session's worker processes that wait for work (Ray names them ``ray::IDLE``)."""
    found = subprocess.run(["pgrep", "-P", str(raylet)], capture_output=True, text=True)
    pids = {int(pid) for pid in found.stdout.split()}
    return {pid for pid in pids if _command(pid).startswith("ray::IDLE")}


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_trials_run_in_the_workers_the_session_started_with() -> None:
    if ray.is_initialized():
        pytest.skip("a Ray session of this process is already running")
    tune_settings, before = dict(DEFAULT_ENV_VARS), os.environ.get("PL_DISABLE_FORK")
    with _ray_session(None) as started:
        assert started
        raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
        deadline = time.monotonic() + 60
        while not (idle := _idle_workers(raylet)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert idle, "Ray started no worker with the session"
        # What Tune does for each trial: an actor class with its runtime environment.
        trial = _ActorClassCache().get(Probe).options(num_cpus=1).remote()
        pid, setting = ray.get(trial.where.remote(), timeout=120)
        assert pid in idle  # not a new process that the trial had to wait for
        assert setting == tune_settings.get("PL_DISABLE_FORK")  # as Tune's runtime env set it
    assert tune_settings == DEFAULT_ENV_VARS  # given back for a Tune run of the caller's own
    assert os.environ.get("PL_DISABLE_FORK") == before


def test_a_value_of_the_users_own_is_kept_and_tune_still_sets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if ray.is_initialized():
        pytest.skip("a Ray session of this process is already running")
    monkeypatch.setenv("PL_DISABLE_FORK", "0")
    tune_settings = dict(DEFAULT_ENV_VARS)
    with _ray_session(None):
        assert tune_settings == DEFAULT_ENV_VARS
        trial = _ActorClassCache().get(Probe).options(num_cpus=1).remote()
        _, setting = ray.get(trial.where.remote(), timeout=120)
        assert setting == tune_settings.get("PL_DISABLE_FORK")
    assert os.environ["PL_DISABLE_FORK"] == "0"
