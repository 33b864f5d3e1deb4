"""The signed manifest of an experiment folder's pickles, checked before a resume unpickles any:
the user's key, what the check refuses and how it says so, and `tune --resume` refusing a
planted pickle before Ray starts (the runs themselves: tests/integration/test_folder_safety.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import pytest

from raytune_hp.cli import main
from raytune_hp.config import ExperimentConfig
from raytune_hp.early_stopping.persistent_asha import RUNGS_FILE, StateFileError
from raytune_hp.errors import StorageWriteError
from raytune_hp.folder_trust import (
    EARLIER_KEPT,
    KEY_FILE,
    MANIFEST_FILE,
    FolderSigner,
    UntrustedFolderError,
    check_resumable,
    config_dir,
    digest,
    is_pickled,
    manifest_text,
    signing_key,
)
from raytune_hp.storage import CONFIG_FILE, ExperimentStore

REPO = Path(__file__).resolve().parents[2]
STATE = "experiment_state-2026-01-01_00-00-00.json"


class Planted:
    """A pickle that, once loaded, writes a marker file: code from the folder ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).touch()",)


def _experiment(tmp_path: Path, config: ExperimentConfig) -> ExperimentStore:
    """A folder as a run leaves it: config, Ray's pickled state, signed by this user."""
    folder = tmp_path / "exp"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text(config.model_copy(update={"name": "exp"}).to_yaml())
    (folder / "tuner.pkl").write_bytes(pickle.dumps({"state": 1}))
    (folder / STATE).write_text('{"trial_data": []}')
    store = ExperimentStore.of(str(tmp_path), "exp")
    FolderSigner(store).setup()
    return store


def test_the_planted_pickle_runs_when_loaded(tmp_path: Path) -> None:
    pickle.loads(pickle.dumps(Planted(tmp_path / "ran")))
    assert (tmp_path / "ran").exists()  # what the tests below keep from happening


def test_the_key_is_made_once_readable_by_the_user_alone() -> None:
    key = signing_key()
    path = config_dir() / KEY_FILE
    assert str(path).startswith(os.environ["XDG_CONFIG_HOME"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing_key() == key and len(key) == 32


def test_which_files_are_code() -> None:
    code = ["tuner.pkl", STATE, "search_gen_state-x.json", "searcher-state-x.pkl", "error.pkl"]
    data = ["runs.json", RUNGS_FILE, MANIFEST_FILE, "summary.md", "config.yaml", "budget.json"]
    assert all(is_pickled(name) for name in code)
    assert not any(is_pickled(name) for name in data)


def test_a_folder_this_user_signed_resumes(tmp_path: Path, quickstart: ExperimentConfig) -> None:
    store = _experiment(tmp_path, quickstart)
    check_resumable(store)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda f: (f / "tuner.pkl").write_bytes(b"planted"), "tuner.pkl changed"),
        (lambda f: (f / "callback-states-x.pkl").write_bytes(b"x"), "callback-states-x.pkl is not"),
        (lambda f: (f / MANIFEST_FILE).unlink(), f"{MANIFEST_FILE} is missing"),
        (lambda f: (f / MANIFEST_FILE).write_text("{"), f"{MANIFEST_FILE} is damaged"),
        (
            lambda f: (f / MANIFEST_FILE).write_text(
                manifest_text({"tuner.pkl": digest(b"planted")}, b"another" * 5)
            ),
            "signed by another key",
        ),
        (
            lambda f: (f / MANIFEST_FILE).write_text(
                (f / MANIFEST_FILE).read_text().replace('"tuner.pkl": "', '"tuner.pkl": "0')
            ),
            "does not match its signature",
        ),
    ],
)
def test_what_a_resume_refuses(
    tmp_path: Path, quickstart: ExperimentConfig, change: object, problem: str
) -> None:
    store = _experiment(tmp_path, quickstart)
    change(tmp_path / "exp")  # type: ignore[operator]
    with pytest.raises(UntrustedFolderError, match=problem) as caught:
        check_resumable(store)
    message = str(caught.value)
    assert store.location in message and "--trust-folder" in message and "\n" not in message
    check_resumable(store, trust_folder=True)  # the user says they trust it


def test_another_machine_needs_trust(
    tmp_path: Path, quickstart: ExperimentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _experiment(tmp_path, quickstart)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-machine"))
    with pytest.raises(UntrustedFolderError, match="another key"):
        check_resumable(store)


def test_damaged_rungs_are_refused_even_when_trusted(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    store = _experiment(tmp_path, quickstart)
    (tmp_path / "exp" / RUNGS_FILE).write_bytes(pickle.dumps({"rungs": []}))
    with pytest.raises(StateFileError, match="must be JSON"):
        check_resumable(store, trust_folder=True)


def test_tune_resume_refuses_a_planted_pickle_before_anything_runs(
    tmp_path: Path, quickstart: ExperimentConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    _experiment(tmp_path, quickstart)
    marker = tmp_path / "ran"
    (tmp_path / "exp" / "tuner.pkl").write_bytes(pickle.dumps(Planted(marker)))
    args = ["tune", str(REPO / "configs" / "quickstart.yaml"), "--resume"]
    assert main([*args, "--name", "exp", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tuner.pkl changed" in err and str(tmp_path / "exp") in err
    assert "--trust-folder" in err
    assert not marker.exists()


def test_tune_help_says_which_files_are_code_and_what_trust_means(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["tune", "--help"]) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert "--trust-folder with --resume" in words
    for name in ("tuner.pkl", "experiment_state-*.json", "search_gen_state-*.json", "*.pkl"):
        assert name in words
    assert "code that resuming runs" in words


def test_the_python_api_refuses_the_same_way(tmp_path: Path, quickstart: ExperimentConfig) -> None:
    from raytune_hp import api

    _experiment(tmp_path, quickstart)
    marker = tmp_path / "ran"
    # A whole state, as Ray writes one (JSON holding pickled values), carrying the planted one:
    # a cut-off state would be set aside rather than read.
    planted = json.dumps({"trial_data": [[pickle.dumps(Planted(marker)).hex()]]})
    (tmp_path / "exp" / STATE).write_text(planted)
    experiment = {"name": "exp", "storage": str(tmp_path), "model": {"name": "cnn"}}
    with pytest.raises(UntrustedFolderError, match=f"{STATE} changed"):
        api.tune(experiment, resume=True)
    assert not marker.exists()


class _Storage:
    def __init__(self, staging: Path) -> None:
        self.experiment_driver_staging_path = str(staging)


class _Trial:
    def __init__(self, staging: Path) -> None:
        self.storage = _Storage(staging)


def test_each_snapshot_of_ray_is_signed_before_ray_copies_it_into_the_folder(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    store = _experiment(tmp_path, quickstart)
    folder, staging = tmp_path / "exp", tmp_path / "staging"
    # Ray's staging folder: a resumed run's starts as a copy of the folder's JSON and pickles.
    shutil.copytree(folder, staging, ignore=shutil.ignore_patterns("*.yaml"))
    for name in (RUNGS_FILE, "budget.json", "runs.json"):
        (staging / name).write_text("{}")
    signer = FolderSigner(store)
    signer.setup()  # as Ray calls it, before the first step
    signer.on_step_begin(0, [_Trial(staging)])
    # Copied into the folder at each snapshot, these stale copies would overwrite what
    # raytune-hp keeps up to date there (the manifest among them).
    assert sorted(p.name for p in staging.iterdir()) == sorted([STATE, "tuner.pkl"])

    (staging / STATE).write_text('{"trial_data": [1]}')  # Ray's next snapshot
    (staging / "searcher-state-x.pkl").write_bytes(b"searcher")
    assert signer.get_state() is None  # nothing for Ray to pickle
    check_resumable(store)  # signed before Ray copies anything: the old state is still covered
    (folder / STATE).write_bytes((staging / STATE).read_bytes())
    check_resumable(store)  # a copy cut off after the state, before the searcher's file
    (folder / "searcher-state-x.pkl").write_bytes(b"searcher")
    check_resumable(store)

    (folder / STATE).write_text('{"trial_data": ["planted"]}')
    with pytest.raises(UntrustedFolderError, match=f"{STATE} changed"):
        check_resumable(store)
    for snapshot in range(2, EARLIER_KEPT + 3):  # a state this old is no longer accepted
        (staging / STATE).write_text(json.dumps({"trial_data": [snapshot]}))
        signer.get_state()
    (folder / STATE).write_text('{"trial_data": [1]}')
    with pytest.raises(UntrustedFolderError, match=f"{STATE} changed"):
        check_resumable(store)


def _signing(
    tmp_path: Path, config: ExperimentConfig
) -> tuple[ExperimentStore, FolderSigner, Path]:
    """A signed folder, a signer for its run, and Ray's staging folder, empty."""
    store = _experiment(tmp_path, config)
    staging = tmp_path / "staging"
    staging.mkdir()
    return store, FolderSigner(store), staging


def test_the_first_snapshot_of_a_new_run_is_signed_though_it_began_without_trials(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    store, signer, staging = _signing(tmp_path, quickstart)
    signer.setup()
    trials: list[_Trial] = []  # Ray's own list: its first step begins before it adds a trial
    signer.on_step_begin(0, trials)
    trials.append(_Trial(staging))
    (staging / STATE).write_text('{"trial_data": [1]}')  # and snapshots before the next step
    signer.get_state()
    (tmp_path / "exp" / STATE).write_bytes((staging / STATE).read_bytes())  # Ray's copy
    check_resumable(store)  # a driver killed now: its folder resumes without a question


def test_a_manifest_that_cannot_be_written_fails_the_snapshot_before_ray_copies_it(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    _, signer, staging = _signing(tmp_path, quickstart)
    signer.on_step_begin(0, [_Trial(staging)])
    (tmp_path / "exp" / MANIFEST_FILE).unlink()
    (tmp_path / "exp" / MANIFEST_FILE).mkdir()  # cannot be replaced by a file, even by root
    (staging / STATE).write_text('{"trial_data": [1]}')
    with pytest.raises(StorageWriteError, match=f"{MANIFEST_FILE} could not be written"):
        signer.get_state()


def test_a_manifest_of_the_earlier_format_is_still_read(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    store = _experiment(tmp_path, quickstart)
    files = {name: digest((tmp_path / "exp" / name).read_bytes()) for name in ("tuner.pkl", STATE)}
    signed = json.dumps({"version": 1, "files": files}, sort_keys=True)
    manifest = {
        "version": 1,
        "key_id": json.loads((tmp_path / "exp" / MANIFEST_FILE).read_text())["key_id"],
        "files": files,
        "signature": hmac.new(signing_key(), signed.encode(), hashlib.sha256).hexdigest(),
    }
    (tmp_path / "exp" / MANIFEST_FILE).write_text(json.dumps(manifest))
    check_resumable(store)
    (tmp_path / "exp" / STATE).write_text('{"trial_data": ["planted"]}')
    with pytest.raises(UntrustedFolderError, match=f"{STATE} changed"):
        check_resumable(store)


def test_a_signer_unpickled_from_an_earlier_release_signs_the_resumed_run(
    tmp_path: Path, quickstart: ExperimentConfig
) -> None:
    store = _experiment(tmp_path, quickstart)
    earlier = FolderSigner(store)
    earlier.__dict__ = {"_store": store, "_staging": None, "_tuner": None}  # the last release's
    resumed = pickle.loads(pickle.dumps(earlier))  # as Ray restores it from tuner.pkl
    (tmp_path / "exp" / STATE).write_text('{"trial_data": [2]}')  # trusted with --trust-folder
    resumed.setup()
    check_resumable(store)  # signed again, under this user's key
