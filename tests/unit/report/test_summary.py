"""summary.md's plot and importance sections, from fake trials (no Ray)."""

from __future__ import annotations

from raytune_hp.report import Importance
from raytune_hp.report.summary import plots_markdown
from raytune_hp.storage import PLOTS_DIR


def test_summary_embeds_each_plot_and_the_importance_table(
    importance: Importance, all_plots: list[str]
) -> None:
    text = plots_markdown(all_plots, importance, "val_acc")
    for name in all_plots:
        assert f"]({PLOTS_DIR}/{name})" in text, name
    assert "![learning curves](plots/learning_curves.png)" in text
    lines = text.splitlines()
    header = lines.index("hyperparameter | importance | tune")
    rows = lines[header + 2 : header + 2 + len(importance.scores)]
    assert rows[0].startswith("`lr` | ") and rows[0].endswith(" | finely")
    assert all(row.endswith((" | finely", " | coarsely")) for row in rows)
    assert sum(line.startswith("Rule: *finely*") for line in lines) == 1
    # The trial table stays the only one whose lines start with "| " (readers count its rows).
    assert not any(line.startswith("| ") for line in lines)
