"""What a full, read-only or forbidden folder does to a write, on real files: Ray's writes go
through a filesystem that writes whole files, a damaged experiment state is set aside for an
intact one, and a damaged folder says what in it is damaged."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.fs
import pytest

from raytune_hp.errors import ExperimentExistsError, StorageWriteError
from raytune_hp.storage import ExperimentStore
from raytune_hp.storage_faults import (
    DAMAGED_SUFFIX,
    damaged_files,
    durable_filesystem,
    failure_in,
    first_failure,
    forget_failures,
    saved_trial_ids,
    set_aside_damaged_states,
)

OLD, NEW = "experiment_state-2024-01-01_00-00-00.json", "experiment_state-2024-01-02_00-00-00.json"
WHOLE = json.dumps({"trial_data": [], "runner_data": {}})


def _tiny_tmpfs(script: str, mount: Path, size: str = "64k") -> subprocess.CompletedProcess[str]:
    """Runs the Python ``script`` with a tmpfs of ``size`` on ``mount`` (the script's
    ``FOLDER``), in a mount namespace of its own: the mount is gone with it."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small filesystem")
    mount.mkdir()
    body = f"FOLDER = {str(mount)!r}\n{textwrap.dedent(script)}"
    command = f'mount -t tmpfs -o size={size} tmpfs {mount} && exec {sys.executable} -c "$0"'
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", command, body],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Operation not permitted" in done.stderr or "mount:" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    return done


def test_ray_writes_are_whole_and_a_full_disk_keeps_the_old_file(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    done = _tiny_tmpfs(
        """
        import os, pyarrow.fs
        from raytune_hp.errors import ExperimentExistsError, StorageWriteError
        from raytune_hp.storage_faults import durable_filesystem, first_failure
        folder = FOLDER
        fs = durable_filesystem()
        with fs.open_output_stream(f"{folder}/state.json") as stream:
            stream.write(b"old")
        try:
            with fs.open_output_stream(f"{folder}/state.json") as stream:
                stream.write(b"x" * 1_000_000)
        except StorageWriteError as exc:
            print("raised:", exc)
        print("kept:", open(f"{folder}/state.json").read(), sorted(os.listdir(folder)))
        print("remembered:", first_failure())
        """,
        mount,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (
        f"raised: {mount}/state.json could not be written: No space left on device (ENOSPC)"
    )
    assert lines[1] == "kept: old ['state.json']"  # no temporary file left behind
    assert lines[2].startswith(f"remembered: {mount}/state.json could not be")


def test_an_atomic_write_on_a_full_disk_raises_one_line_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "small"
    done = _tiny_tmpfs(
        """
        import os
        from raytune_hp.storage import ExperimentStore
        from raytune_hp.errors import ExperimentExistsError, StorageWriteError
        store = ExperimentStore(f"{FOLDER}/exp")
        store.write_text("summary.md", "old")
        try:
            store.write_bytes("summary.md", b"x" * 1_000_000)
        except StorageWriteError as exc:
            print(exc)
        print(store.read_text("summary.md"), os.listdir(store.path))
        """,
        mount,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{mount}/exp/summary.md could not be written: No space left on device (ENOSPC)",
        "old ['summary.md']",
    ]


def test_the_filesystem_copies_folders_and_travels_to_trials(tmp_path: Path) -> None:
    source = tmp_path / "staging"
    (source / "sub").mkdir(parents=True)
    (source / "a.json").write_text("{}")
    (source / "sub" / "b.pt").write_bytes(b"\x00" * 10)
    fs = durable_filesystem()
    pyarrow.fs.copy_files(
        str(source),
        str(tmp_path / "exp"),
        source_filesystem=pyarrow.fs.LocalFileSystem(),
        destination_filesystem=fs,
    )
    assert (tmp_path / "exp" / "a.json").read_text() == "{}"
    assert (tmp_path / "exp" / "sub" / "b.pt").read_bytes() == b"\x00" * 10
    assert pickle.loads(pickle.dumps(fs)) == fs  # Ray sends it to the trials' processes


def test_a_dropped_checkpoint_goes_only_once_a_newer_state_is_whole(tmp_path: Path) -> None:
    fs = durable_filesystem()
    checkpoint = tmp_path / "trial" / "checkpoint_000000"
    checkpoint.mkdir(parents=True)
    fs.delete_dir(str(checkpoint))  # Ray's num_to_keep drops it
    assert checkpoint.exists()  # the state on disk may still name it
    with fs.open_output_stream(str(tmp_path / OLD)) as stream:
        stream.write(WHOLE.encode())
    assert not checkpoint.exists()
    other = tmp_path / "trial" / "not_a_checkpoint"
    other.mkdir()
    fs.delete_dir(str(other))
    assert not other.exists()


def test_failure_in_reads_a_trials_error_text() -> None:
    ours = failure_in("raytune_hp.errors.StorageWriteError: /r/x/c.pt could not be written: "
                      "Read-only file system (EROFS)")  # fmt: skip
    assert ours is not None and ours.path == "/r/x/c.pt"
    theirs = failure_in("PermissionError: [Errno 13] Permission denied: '/r/x/result.json'")
    assert str(theirs) == "/r/x/result.json could not be written: Permission denied (EACCES)"
    assert failure_in("RuntimeError: a fault in the trial") is None
    assert failure_in("FileNotFoundError: [Errno 2] No such file or directory: 'x'") is None


def test_only_lasting_causes_are_remembered(tmp_path: Path) -> None:
    forget_failures()
    fs = durable_filesystem()
    with pytest.raises(StorageWriteError):  # a file where a folder should be: not remembered
        (tmp_path / "file").write_text("")
        fs.open_output_stream(str(tmp_path / "file" / "x"))
    assert first_failure() is None


def test_a_cut_off_newest_state_is_set_aside_for_the_newest_whole_one(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    store.write_text(OLD, WHOLE)
    store.write_text(NEW, WHOLE[:10])
    session = NEW.removeprefix("experiment_state-").removesuffix(".json")
    store.write_text(f"searcher-state-{session}.pkl", "")
    store.write_text(f"search_gen_state-{session}.json", "{}")
    moved = set_aside_damaged_states(store)
    assert sorted(moved) == sorted(
        [NEW, f"searcher-state-{session}.pkl", f"search_gen_state-{session}.json"]
    )
    assert store.glob("experiment_state-*.json") == [OLD]
    assert store.exists(NEW + DAMAGED_SUFFIX)
    assert set_aside_damaged_states(store) == []  # nothing more to set aside


def test_a_folder_with_no_whole_state_is_refused_in_one_line(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    store.write_text(NEW, "")
    with pytest.raises(ExperimentExistsError, match="must hold a whole experiment state"):
        set_aside_damaged_states(store)


def test_a_damaged_folder_says_one_line_per_damaged_file(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    store.write_text(OLD, WHOLE)
    store.write_text(NEW, "")  # 0 bytes: cut off before its first byte
    trial = store.child("001_adam")
    trial.write_text("params.json", '{"lr": 0.1')
    trial.write_text("result.json", '{"epoch": 1}\n{"epoch": 2, "val_')
    store.child("002_sgd").write_text("result.json", '{"epoch": 1}\n')
    lines = damaged_files(store)
    assert lines == [
        f"{tmp_path}/{NEW}: cut off or not JSON (an older state is used if whole)",
        f"{tmp_path}/001_adam/result.json: 1 line(s) cut off or not JSON (left out)",
        f"{tmp_path}/001_adam/params.json: cut off or not JSON",
    ]
    assert damaged_files(ExperimentStore(str(tmp_path / "002_sgd"))) == []


def test_trials_that_ran_after_the_newest_whole_state_stay_in_the_summary(tmp_path: Path) -> None:
    from raytune_hp.config import load_config
    from raytune_hp.report import load_trials

    config = load_config(Path(__file__).parents[2] / "configs" / "custom_function.yaml")
    epochs = config.train.max_epochs
    store = ExperimentStore(str(tmp_path))
    known = {"trial_id": "a", "relative_logdir": "001_a", "status": "TERMINATED", "config": {}}
    store.write_text(OLD, json.dumps({"trial_data": [[json.dumps(known), "{}"]]}))
    store.write_text(NEW, '{"trial_data": [["')  # cut off: it named the second trial too
    for name, top in (("001_a", 0.8), ("002_b", 0.9)):
        rows = [{"epoch": e, "val_acc": top * e / epochs} for e in range(1, epochs + 1)]
        store.child(name).write_text("params.json", json.dumps({"width": 32}))
        store.child(name).write_text("result.json", "".join(json.dumps(r) + "\n" for r in rows))
    store.child("003_c").write_text("params.json", json.dumps({"width": 64}))  # never reported
    trials = {t.name: t for t in load_trials(store, config)}
    assert trials["002_b"].status == "completed" and trials["002_b"].best == pytest.approx(0.9)
    assert trials["001_a"].best == pytest.approx(0.8)
    assert trials["003_c"].status == "running" and trials["003_c"].best is None


def test_report_on_a_damaged_folder_reports_what_it_can_and_names_each_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from raytune_hp.cli import main
    from raytune_hp.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "custom_function.yaml")
    store = ExperimentStore(str(tmp_path))
    store.write_text("config.yaml", config.to_yaml())
    known = {"trial_id": "a", "relative_logdir": "001_a", "status": "TERMINATED", "config": {}}
    store.write_text(OLD, json.dumps({"trial_data": [[json.dumps(known), "{}"]]}))
    store.write_text(NEW, "")  # 0 bytes
    rows = [{"epoch": e, "val_acc": 0.1 * e} for e in range(1, config.train.max_epochs + 1)]
    results = "".join(json.dumps(r) + "\n" for r in rows) + '{"epoch": 9, "val'
    store.child("001_a").write_text("params.json", json.dumps({"width": 32}))
    store.child("001_a").write_text("result.json", results)
    assert main(["report", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    damaged = [line for line in err.splitlines() if line.startswith("raytune-hp: damaged: ")]
    assert damaged == [
        f"raytune-hp: damaged: {tmp_path}/{NEW}: cut off or not JSON (an older state is used "
        "if whole)",
        f"raytune-hp: damaged: {tmp_path}/001_a/result.json: 1 line(s) cut off or not JSON "
        "(left out)",
    ]
    assert "Traceback" not in err and out.startswith("1 trials: ")
    assert "001_a" in (tmp_path / "summary.md").read_text()


def test_a_read_only_disk_is_a_lasting_failure_named_in_one_line(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    done = _tiny_tmpfs(
        """
        import subprocess
        from raytune_hp.errors import StorageWriteError
        from raytune_hp.storage_faults import durable_filesystem, first_failure
        subprocess.run(["mount", "-o", "remount,ro", FOLDER], check=True)
        try:
            with durable_filesystem().open_output_stream(f"{FOLDER}/result.json") as stream:
                stream.write(b"{}")
        except StorageWriteError as exc:
            print(exc)
        print(first_failure() is not None)
        """,
        mount,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{mount}/result.json could not be written: Read-only file system (EROFS)",
        "True",
    ]


def test_the_trials_saved_states_name_and_none_when_one_is_cut_off(tmp_path: Path) -> None:
    store = ExperimentStore(str(tmp_path))
    trial = [json.dumps({"trial_id": "5be047ee", "status": "RUNNING"}), "{}"]
    (tmp_path / OLD).write_text(json.dumps({"trial_data": [trial], "runner_data": {}}))
    (tmp_path / NEW).write_text(WHOLE)
    assert saved_trial_ids(store) == {"5be047ee"}
    (tmp_path / NEW).write_text(WHOLE[: len(WHOLE) // 2])  # what a full disk leaves
    assert saved_trial_ids(store) is None  # nothing is forgotten on its word
