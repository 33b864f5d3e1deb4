"""A disk that fills (or turns read-only) mid-run: the run stops in one line with exit 1, and once
the disk has room again it resumes with every trial that finished before the fault, metrics and
all.

The disk is a tmpfs mounted in a mount namespace of the test's own (``unshare --mount``: root,
or a user namespace, is needed; the test is skipped without), so nothing outside sees it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raytune_hp.metrics import best_of
from tests.integration.full_disk import EPOCHS, SAMPLES
from tests.integration.summary import trial_table

pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).with_name("full_disk.py")


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
    )  # fmt: skip
    return probe.returncode == 0


CAUSES = {"full": "No space left on device (ENOSPC)", "read-only": "Read-only file system (EROFS)"}


@pytest.mark.skipif(not _can_mount(), reason="cannot mount a tmpfs in a private namespace here")
@pytest.mark.parametrize("fault", CAUSES)
def test_a_full_disk_stops_cleanly_and_the_run_resumes_with_nothing_lost(
    tmp_path: Path, fault: str
) -> None:
    mount, record = tmp_path / "disk", tmp_path / "record.json"
    mount.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(SCENARIO.parents[2])}
    script = f'mount -t tmpfs -o size=24m tmpfs {mount} && exec {sys.executable} "$@"'
    namespace = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    done = subprocess.run(
        [*namespace, str(SCENARIO), str(mount), str(record), fault],
        env=environment,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(record.read_text())

    stopped = seen["stopped"]
    assert stopped["rc"] == 1, stopped["err"][-3000:]
    assert "Traceback" not in stopped["err"]
    lines = stopped["err"].strip().splitlines()
    assert len(lines) == 1, stopped["err"][-3000:]
    assert lines[0].startswith(f"raytune-hp: {mount}/full/")
    assert f"could not be written: {CAUSES[fault]}; stopped" in lines[0]
    # report on the full disk: it cannot write the summary either, and says so the same way
    assert seen["report_when_full"]["rc"] == 1
    assert "Traceback" not in seen["report_when_full"]["err"]

    resumed = seen["resumed"]
    assert resumed["rc"] == 0, resumed["err"][-3000:]
    assert seen["report"]["rc"] == 0 and "damaged" not in seen["report"]["err"]
    table = trial_table(seen["summary"])
    header, rows = table[0], {row[0]: row for row in table[1:]}
    assert len(rows) == SAMPLES
    assert all(row[header.index("status")] == "completed" for row in rows.values())
    finished = seen["finished"]
    assert finished  # some trials had finished before the disk filled
    for name, history in finished.items():
        row = rows[name]
        assert row[header.index("epochs")] == str(EPOCHS)
        best = best_of([r["val_acc"] for r in history], "max")
        assert float(row[header.index("val_acc")]) == pytest.approx(best, abs=5e-4)
