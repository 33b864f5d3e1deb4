"""TensorBoard's HParams table as a person sees it: in headless Chromium, sorted by a metric.

The tests use it on a finished experiment; the README's screenshot comes from it too:

    .venv/bin/python tests/integration/browser.py runs/quickstart docs/hparams.png

Chromium is Debian's (``apt-get install chromium``; ``.ci/run`` installs it), driven by
Playwright; ``RAYTUNE_HP_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Wide enough for the columns shown by default, and tall enough that the grid (which renders only
# the rows in view) holds every trial of a small experiment.
VIEWPORT: Any = {"width": 2100, "height": 1000}
LOAD_TIMEOUT_MS = 60_000


def chromium() -> str | None:
    """The Chromium binary to drive, if this machine has one."""
    return os.environ.get("RAYTUNE_HP_CHROMIUM") or shutil.which("chromium")


@contextmanager
def tensorboard(logdir: Path) -> Iterator[str]:
    """TensorBoard serving ``logdir`` on a free loopback port; yields its URL."""
    command = [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(logdir)]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            if found:
                yield f"http://127.0.0.1:{found.group(1)}"
                break
            if time.monotonic() > deadline:
                raise TimeoutError("TensorBoard did not start within 60 s")
        else:
            raise RuntimeError(f"TensorBoard exited ({process.wait()}) before serving")
    finally:
        process.terminate()
        process.wait(timeout=30)


def hparams_table(
    url: str, sort_by: str, first_run: str, screenshot: Path | None = None
) -> tuple[list[str], list[list[str]]]:
    """The HParams table view at ``url``, sorted by the metric shown as ``sort_by`` (highest
    first) through the dashboard's own Sorting controls, once ``first_run`` has appeared: its
    column headers and its rows as shown, top to bottom. Saves a screenshot if asked."""
    from playwright.sync_api import sync_playwright

    binary = chromium()
    if binary is None:
        raise FileNotFoundError("no chromium: apt-get install chromium, or set RAYTUNE_HP_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{url}/#hparams")
            page.get_by_text(first_run).first.wait_for(timeout=LOAD_TIMEOUT_MS)
            page.locator('paper-dropdown-menu[label="Sort by"]').click()
            page.locator(".sorting paper-item", has_text=sort_by).click()
            page.locator('paper-dropdown-menu[label="Direction"]').click()
            page.locator(".sorting paper-item", has_text="Descending").click()
            # The dashboard asks its server again and redraws; wait (a while) for the order.
            deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
            while True:
                headers, rows = _table(page.locator("vaadin-grid-cell-content").all_inner_texts())
                scores = [row[headers.index(sort_by)] for row in rows]
                if _descending(scores) or time.monotonic() > deadline:
                    break
                page.wait_for_timeout(250)
            if screenshot is not None:
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return headers, rows


def _table(texts: list[str]) -> tuple[list[str], list[list[str]]]:
    """The grid's headers and rows from the texts of its cells, in document order."""
    cells = [text.strip() for text in texts]
    headers = cells[: cells.index("")]
    # Each row: the run's name, its (empty) "Show Metrics" checkbox, then one cell per column.
    rows = [cells[i : i + len(headers)] for i in range(len(cells) - 1) if _row_starts(cells, i)]
    return headers, rows


def _descending(values: list[str]) -> bool:
    """Whether the numbers shown are in descending order (an empty cell never is)."""
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        return False
    return numbers == sorted(numbers, reverse=True)


def _row_starts(cells: list[str], i: int) -> bool:
    """Whether a row starts at cell ``i``: a run's name as raytune-hp names runs
    (``007_adam_lr3.2e-03``), then the empty "Show Metrics" cell."""
    return re.fullmatch(r"\d{3}(_\S+)?", cells[i]) is not None and cells[i + 1] == ""


if __name__ == "__main__":
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from raytune_hp.results import ExperimentResult

    result = ExperimentResult.load(folder)
    assert result.best is not None, f"{folder} has no scored trial"
    with tensorboard(folder) as served:
        hparams_table(served, f"{result.metric} (best epoch)", result.best.name, out)
    print(out)
