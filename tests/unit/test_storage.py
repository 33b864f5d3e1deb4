"""The experiment store on real local folders, by path and by ``file://`` URI: where a store
points, whole-file writes, listing, upload, and what makes a folder an experiment."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from raytune_hp.storage import (
    CONFIG_FILE,
    PHASES,
    ExperimentStore,
    as_store,
    is_experiment,
    rooted_at,
)

STATE = "experiment_state-2024-01-01_00-00-00.json"


@pytest.fixture(params=["path", "file-uri"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ExperimentStore:
    """``tmp_path/exp``, named by path or by ``file://`` URI."""
    storage = str(tmp_path) if request.param == "path" else f"file://{tmp_path}"
    return ExperimentStore.of(storage, "exp")


def test_of_a_path_is_absolute_and_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = ExperimentStore.of("runs/../runs", "quickstart")
    assert store.location == str(tmp_path.resolve() / "runs" / "quickstart")
    assert store.path == store.location and store.is_local


def test_of_a_uri_appends_the_name_and_keeps_the_query_last(tmp_path: Path) -> None:
    store = ExperimentStore.of(f"file://{tmp_path}/runs/?flag=1", "exp")
    assert store.location == f"file://{tmp_path}/runs/exp?flag=1"
    assert store.path == f"{tmp_path}/runs/exp" and not store.is_local
    assert store.child("coarse").location == f"file://{tmp_path}/runs/exp/coarse?flag=1"


def test_child_is_a_subfolder(store: ExperimentStore, tmp_path: Path) -> None:
    child = store.child("coarse")
    assert child.path == f"{tmp_path}/exp/coarse"
    assert child.is_local == store.is_local
    child.write_text("a.txt", "a")
    assert (tmp_path / "exp" / "coarse" / "a.txt").read_text() == "a"


def test_write_then_read_round_trips(store: ExperimentStore, tmp_path: Path) -> None:
    text = "name: exp\nlr: 0.001 — ½\n"
    store.write_text(CONFIG_FILE, text)  # creates the folder
    assert store.read_text(CONFIG_FILE) == text
    assert (tmp_path / "exp" / CONFIG_FILE).read_text() == text
    store.write_bytes("blob.bin", b"\x00\xff")
    assert store.read_bytes("blob.bin") == b"\x00\xff"


def test_a_write_replaces_the_whole_file_and_leaves_no_partial(
    store: ExperimentStore, tmp_path: Path
) -> None:
    store.write_text("summary.md", "a long first version\n" * 100)
    store.write_text("summary.md", "short\n")
    assert (tmp_path / "exp" / "summary.md").read_text() == "short\n"
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["summary.md"]


def test_glob_lists_matching_names_directly_in_the_folder(
    store: ExperimentStore, tmp_path: Path
) -> None:
    assert store.glob("*") == []  # no folder yet
    (tmp_path / "exp" / "coarse").mkdir(parents=True)
    for name in (STATE, "experiment_state-2.json", "config.yaml"):
        (tmp_path / "exp" / name).write_text("{}")
    (tmp_path / "exp" / "coarse" / "experiment_state-3.json").write_text("{}")
    assert sorted(store.glob("experiment_state-*.json")) == ["experiment_state-2.json", STATE]
    assert store.glob("*.csv") == []


def test_exists(store: ExperimentStore, tmp_path: Path) -> None:
    assert not store.exists() and not store.exists(CONFIG_FILE)
    (tmp_path / "exp").mkdir()
    assert store.exists() and not store.exists(CONFIG_FILE)
    (tmp_path / "exp" / CONFIG_FILE).write_text("name: exp\n")
    assert store.exists(CONFIG_FILE)


def test_upload_copies_a_local_folder_in(store: ExperimentStore, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "trial_0").mkdir(parents=True)
    (local / "a.txt").write_text("a")
    (local / "trial_0" / "result.json").write_text("{}")
    store.upload(local)
    assert (tmp_path / "exp" / "a.txt").read_text() == "a"
    assert (tmp_path / "exp" / "trial_0" / "result.json").read_text() == "{}"


def test_as_store_takes_a_store_a_path_or_a_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ExperimentStore(str(tmp_path))
    assert as_store(store) is store
    monkeypatch.chdir(tmp_path)
    assert as_store("exp").location == str(tmp_path.resolve() / "exp")
    assert as_store(Path("exp")).location == str(tmp_path.resolve() / "exp")
    assert as_store(f"file://{tmp_path}/exp").location == f"file://{tmp_path}/exp"


@pytest.mark.parametrize("state_in", ["", *PHASES])
def test_an_experiment_has_rays_state_at_the_top_or_in_a_phase_and_its_config(
    tmp_path: Path, state_in: str
) -> None:
    folder = tmp_path / "exp"
    (folder / state_in).mkdir(parents=True, exist_ok=True)
    (folder / state_in / STATE).write_text("{}")
    assert not is_experiment(folder)  # no config.yaml: not raytune-hp's
    assert is_experiment(folder, own_config=False)
    (folder / CONFIG_FILE).write_text("name: exp\n")
    assert is_experiment(folder)
    assert is_experiment(f"file://{folder}")


def test_a_folder_without_rays_state_is_no_experiment(tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    (folder / "other").mkdir(parents=True)
    (folder / CONFIG_FILE).write_text("name: exp\n")
    (folder / "other" / STATE).write_text("{}")  # not a phase folder
    (folder / "experiment_state.json").write_text("{}")  # not Ray's name
    assert not is_experiment(folder)
    assert not is_experiment(folder, own_config=False)
    assert not is_experiment(tmp_path / "missing", own_config=False)


def test_a_store_in_ray_tunes_state_unpickles_under_the_folder_being_run(tmp_path: Path) -> None:
    # Ray pickles the objects that hold a store (the ASHA rung store, callbacks) with its state:
    # a folder copied or moved elsewhere must resume writing into its new place only.
    old = ExperimentStore.of(str(tmp_path / "old"), "exp")
    new = ExperimentStore.of(str(tmp_path / "new"), "exp")
    held = pickle.dumps({"top": old, "phase": old.child("coarse").child("t1")})
    with rooted_at(new):
        moved = pickle.loads(held)
    assert moved["top"].location == new.location
    assert moved["phase"].location == str(tmp_path / "new" / "exp" / "coarse" / "t1")
    assert pickle.loads(held)["top"].location == old.location  # outside a run: as it was
    loose = ExperimentStore(str(tmp_path / "elsewhere"))  # not part of an experiment folder
    with rooted_at(new):
        assert pickle.loads(pickle.dumps(loose)).location == loose.location


def test_a_write_that_fails_names_the_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    from raytune_hp.errors import StorageWriteError
    from raytune_hp.storage import write_atomically

    write_atomically(tmp_path / "a.txt", b"old")
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageWriteError, match=r"/file/a.txt could not be written: File exists"):
        write_atomically(tmp_path / "file" / "a.txt", b"new")  # its folder is a file
    assert (tmp_path / "a.txt").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "file"]
