"""The full-disk scenario, run inside a mount namespace of its own (``unshare --mount``) so that
the small filesystem it mounts is private to it and gone with it; see test_full_disk.py.

``python full_disk.py MOUNT RECORD [full|read-only]``: with a tmpfs already on MOUNT, starts an
experiment there, fills the disk (or remounts it read-only) once some trials have finished,
waits for the driver to stop, grows the filesystem (or makes it writable again), resumes, and
writes what it saw to RECORD (JSON) for the test to check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES, EPOCHS, FINISHED_BEFORE_FILLING = 8, 6, 2
SETTINGS = [
    "--set", f"search.num_samples={SAMPLES}",
    "--set", f"train.max_epochs={EPOCHS}",
    "--set", "search.max_concurrent=2",
    "--set", "early_stopping.name=none",
]  # fmt: skip


def _command(mount: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "raytune_hp", *args, "--name", "full", "--storage", str(mount)]


def _run(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    return {"rc": done.returncode, "out": done.stdout, "err": done.stderr}


def _rows(trial: Path) -> list[dict[str, Any]]:
    path = trial / "result.json"
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # being written
    return rows


def _finished(exp: Path) -> dict[str, list[dict[str, Any]]]:
    trials = {d.name: _rows(d) for d in exp.glob("*/") if (d / "params.json").exists()}
    return {name: rows for name, rows in trials.items() if rows and rows[-1]["epoch"] == EPOCHS}


def _fault(mount: Path, fault: str) -> None:
    if fault == "read-only":
        # A busy filesystem refuses to turn read-only: retried until no write is in flight.
        deadline = time.monotonic() + 30
        while subprocess.run(["mount", "-o", "remount,ro", str(mount)]).returncode != 0:
            assert time.monotonic() < deadline, "the filesystem stayed busy"
            time.sleep(0.05)
        return
    try:
        with open(mount / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
    except OSError:
        pass  # full


def main(mount: Path, record: Path, fault: str = "full") -> None:
    exp = mount / "full"
    config = str(REPO / "configs" / "custom_function.yaml")
    driver = subprocess.Popen(
        _command(mount, "tune", config, *SETTINGS),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while len(_finished(exp)) < FINISHED_BEFORE_FILLING and time.monotonic() < deadline:
        time.sleep(0.1)
    finished = _finished(exp)
    _fault(mount, fault)
    out, err = driver.communicate(timeout=240)
    seen: dict[str, Any] = {"finished": finished, "stopped": {"rc": driver.returncode, "err": err}}
    seen["stopped"]["out"] = out
    seen["report_when_full"] = _run(
        [sys.executable, "-m", "raytune_hp", "report", str(exp)],
    )
    subprocess.run(["mount", "-o", "remount,rw,size=256m", str(mount)], check=True)
    seen["resumed"] = _run(_command(mount, "tune", config, "--resume"))
    seen["report"] = _run([sys.executable, "-m", "raytune_hp", "report", str(exp)])
    summary = exp / "summary.md"
    seen["summary"] = summary.read_text() if summary.exists() else ""
    record.write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
