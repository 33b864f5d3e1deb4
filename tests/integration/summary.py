"""Reading summary.md's trial table the way a reader does: the table under its `| run |` header,
and nothing after it (the search-space table at the end is another table)."""

from pathlib import Path


def trial_table(summary: str | Path) -> list[list[str]]:
    """The header and one row per trial, each split into stripped cells."""
    text = summary.read_text() if isinstance(summary, Path) else summary
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("| run |"):
            rows = [_cells(line)]
        elif rows and line.startswith("|"):
            if not set(line) <= set("|-: "):
                rows.append(_cells(line))
        elif rows:
            break
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]
