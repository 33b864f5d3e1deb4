"""summary.md's plot and importance sections, from fake trials (no Ray), and best_config.yaml:
runnable for every shipped config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from raytune_hp.config import load_config
from raytune_hp.report import Importance, TrialRecord, best_config
from raytune_hp.report.summary import plots_markdown
from raytune_hp.spaces import sample, start_point
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


SHIPPED = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_the_best_config_of_every_shipped_config_loads_and_fixes_that_configuration(
    path: Path,
) -> None:
    # Own kinds, optional tables, fine-tuning and outside_table all survive: the best config
    # resolves to a space with nothing left to search, at exactly the best trial's values.
    config = load_config(path)
    space = config.search_space()
    for hparams in [start_point(space), *sample(space, 5, seed=1)]:
        best = best_config(config, TrialRecord("t1", "completed", hparams, 0.9, 3))
        reloaded = load_config("best_config.yaml", text=yaml.safe_dump(best, sort_keys=False))
        fixed = reloaded.search_space()
        assert fixed.tuned == ()
        assert start_point(fixed) == hparams
        assert (reloaded.search.num_samples, reloaded.early_stopping.name) == (1, "none")
