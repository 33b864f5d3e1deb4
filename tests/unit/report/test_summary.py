"""summary.md from fake trials (no Ray): a table a reader can take in at 100 columns (what every
trial shared above it, the run, its score and how it ended on the left, the details in notes
under it), the plot and importance sections, and best_config.yaml: runnable for every shipped
config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.report import Importance, TrialRecord, best_config, summary_markdown
from raytune_hp.report.summary import WIDTH, plots_markdown, space_markdown
from raytune_hp.results import ExperimentResult
from raytune_hp.spaces import resolve_space, sample, start_point
from raytune_hp.storage import PLOTS_DIR
from raytune_hp.values import compact

FakeTrials = Callable[..., list[TrialRecord]]
CONFIGS = Path(__file__).resolve().parents[3] / "configs"


def _table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the one table whose lines start with ``| ``, as cells."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header, *rows = [[cell.strip() for cell in line[1:-1].split("|")] for line in lines]
    return header, rows


def _markdown(trials: list[TrialRecord], config: ExperimentConfig) -> str:
    space = config.search_space()
    return summary_markdown(trials, "val_acc", "max", config.name, space)


def test_the_score_comes_first_with_the_last_epochs_where_it_differs(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    header, rows = _table(_markdown(trials, config))
    assert header[:5] == ["run", "val_acc", "last", "epochs", "status"]
    assert [row[0] for row in rows] == [trial.name for trial in trials]  # best first
    assert [row[1] for row in rows] == [compact(trial.best) for trial in trials]
    for row, trial in zip(rows, trials, strict=True):
        dipped = compact(trial.last) != compact(trial.best)
        assert row[2] == (compact(trial.last) if dipped else ""), trial.name
        assert row[3:5] == [str(trial.epochs), trial.status]
    assert {row[4] for row in rows} == {"completed", "stopped early"}
    assert any(row[2] for row in rows) and any(not row[2] for row in rows)


def test_hyperparameters_every_trial_shared_are_written_once_above_the_table(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    # Every fake trial happens to use kernel size 5 as well: searched, yet never varied.
    same = [replace(trial, hparams={**trial.hparams, "kernel_size": 5}) for trial in trials]
    text = _markdown(same, config)
    header, _ = _table(text)
    assert "num_layers" not in header and "kernel_size" not in header
    assert header[5:] == ["optimizer", "lr", "batch_size", "num_kernels", "dropout", "weight_decay"]
    above = text[: text.index("| run |")]
    assert "\nFixed: `num_layers` = 1.\n" in above
    assert "\nSearched, but the same in every trial: `kernel_size` = 5.\n" in above
    assert "score = the best epoch's `val_acc`" in " ".join(above.split())
    # Without the space (a table printed on its own) the two read as one.
    plain = summary_markdown(same, "val_acc", "max")
    assert "The same in every trial: `kernel_size` = 5, `num_layers` = 1." in plain


def test_a_single_trial_keeps_its_searched_hyperparameters_in_the_table(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    header, rows = _table(_markdown(trials[:1], config))
    assert "lr" in header and "num_layers" not in header and len(rows) == 1


def test_the_table_fits_100_columns_with_five_tuned_hyperparameters(
    fake_trials: FakeTrials,
) -> None:
    config = load_config(CONFIGS / "quickstart.yaml", ["space.dropout=0.1", "space.weight_decay=0"])
    text = _markdown(fake_trials(config, 24), config)
    header, _ = _table(text)
    assert header[5:] == ["optimizer", "lr", "batch_size", "kernel_size", "num_kernels"]
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "Fixed: `num_layers` = 1, `dropout` = 0.1, `weight_decay` = 0." in text


def test_why_a_trial_failed_or_was_skipped_is_a_note_under_the_table_keyed_by_its_run(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    error = "RuntimeError: CUDA error (after 2 retries)"
    failed = TrialRecord("025_adam_lr1.0e-03", "failed", {}, None, 0, error, number=25)
    too_big = "90,000 parameters > ½ × 1,437 training samples"
    skipped = TrialRecord("026_adam_lr2.0e-03", "skipped", {}, None, 0, too_big, number=26)
    big = [replace(trial, parameters=40_000, samples=1437) for trial in trials[:2]]
    text = _markdown([*big, *trials[2:], failed, skipped], config)
    _, rows = _table(text)
    assert [row[4] for row in rows[-2:]] == ["failed", "skipped"]
    assert [row[1] for row in rows[-2:]] == ["–", "–"]
    notes = text[text.index("\nNotes:\n") :]
    assert "- `025_adam_lr1.0e-03` (failed): RuntimeError: CUDA error (after 2 retries)" in notes
    assert f"\n- `026_adam_lr2.0e-03` (skipped): {too_big}\n" in notes  # whole, for grep
    assert f"- Over capacity: `{big[0].name}`, `{big[1].name}`. Their models" in notes
    assert not any("over capacity" in cell for row in rows for cell in row)


def test_a_folder_of_an_older_version_gets_the_trial_number_as_a_column(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    hexed = [replace(trial, name=f"{trial.number:08x}") for trial in trials]
    header, rows = _table(_markdown(hexed, config))
    assert header[:3] == ["#", "run", "val_acc"]
    assert [row[0] for row in rows] == [str(trial.number) for trial in trials]


def test_the_results_command_prints_the_summarys_table_and_a_dataframe_with_last(
    config: ExperimentConfig, trials: list[TrialRecord]
) -> None:
    result = ExperimentResult("runs/quickstart", config, trials)
    assert result.markdown() == _markdown(trials, config)
    frame = result.dataframe()
    head = ["rank", "number", "trial", "phase", "status", "val_acc", "last", "epochs"]
    assert list(frame.columns[:8]) == head
    assert frame["last"].tolist() == [trial.last for trial in trials]
    assert frame["started"].tolist() == [trial.started for trial in trials]


def test_summary_embeds_each_plot_and_the_importance_list(
    importance: Importance, all_plots: list[str]
) -> None:
    text = plots_markdown(all_plots, importance, "val_acc", "The best `val_acc` so far ...")
    for name in all_plots:
        assert f"]({PLOTS_DIR}/{name})" in text, name
    assert "![optimization history](plots/optimization_history.png)" in text
    assert "The best `val_acc` so far ..." in text
    lines = text.splitlines()
    ranked = [line for line in lines if line[:1].isdigit() and ". `" in line]
    assert len(ranked) == len(importance.scores)
    assert all(len(line) <= WIDTH for line in lines)
    # The trial table stays the only one whose lines start with "| " (readers count its rows).
    assert not any(line.startswith("| ") for line in lines)


SHIPPED = sorted(CONFIGS.glob("*.yaml"))


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


def test_the_summary_ends_with_the_space_searched_its_hard_ranges_and_priors() -> None:
    text = space_markdown(resolve_space("cnn", {"bounds": "wide", "prior": "tables"}))
    lines = text.splitlines()
    assert lines[1] == "## The search space"
    assert "| hyperparameter | hard range | prior | start | note |" in lines
    assert any(line.startswith("| `dropout` | float [0, 0.8] | centred at 0.375") for line in lines)
