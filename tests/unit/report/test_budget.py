"""How the budget was spent, as the summary and the console say it, and the trials the budget
stopped read back from an experiment folder as such (not as stopped early by ASHA)."""

from __future__ import annotations

import json
from pathlib import Path

from raytune_hp.budget import BudgetRecord
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.report import TrialRecord, budget_spending, load_trials, summary_markdown
from raytune_hp.report.summary import write_reports
from raytune_hp.storage import ExperimentStore

QUICKSTART = Path(__file__).resolve().parents[3] / "configs" / "quickstart.yaml"


def _config(*overrides: str) -> ExperimentConfig:
    return load_config(QUICKSTART, ["train.max_epochs=4", *overrides])


def _trial(number: int, status: str, epochs: int) -> TrialRecord:
    return TrialRecord(f"{number:03d}_adam", status, {"lr": 1e-3 * number}, 0.5 + number / 100,
                       epochs, number=number)  # fmt: skip


def test_an_epoch_budget_says_where_every_epoch_went() -> None:
    trials = [
        _trial(1, "completed", 4),
        _trial(2, "stopped early", 1),
        _trial(3, "stopped early", 2),
        _trial(4, "failed", 1),
        _trial(5, "stopped at the budget's end", 2),
    ]
    assert budget_spending(trials, _config("search.budget=12 epochs")) == (
        "Budget: 12 epochs; spent 10 in 5 trials: 1 completed (4), 2 stopped early by ASHA (3), "
        "1 stopped at the budget's end (2), 1 failed (1)"
    )


def test_a_time_budget_says_the_time_and_the_epochs() -> None:
    trials = [_trial(1, "completed", 4), _trial(2, "running", 3)]
    line = budget_spending(trials, _config("search.budget=2 hours"), seconds=3725)
    assert line == (
        "Budget: 2 hours; spent 1h02m in 2 trials (7 epochs): 1 completed (4 epochs), 1 running (3)"
    )
    assert budget_spending([], _config("search.budget=30 minutes")) == (
        "Budget: 30 minutes; spent 0s in 0 trials (0 epochs)"
    )


def test_without_a_budget_there_is_nothing_to_say() -> None:
    assert budget_spending([_trial(1, "completed", 4)], _config()) == ""


def test_the_summary_says_it_under_its_first_paragraph() -> None:
    trials = [_trial(1, "completed", 4), _trial(2, "stopped at the budget's end", 1)]
    line = budget_spending(trials, _config("search.budget=5 epochs"))
    lines = summary_markdown(trials, "val_acc", "max", "x", budget=line).splitlines()
    at = lines.index(line)
    assert lines[at - 1] == lines[at + 1] == "" and lines[at - 2].endswith("to that trial.")
    assert "Budget" not in summary_markdown(trials, "val_acc", "max", "x")


def _experiment(folder: Path, trials: list[tuple[str, str, int]]) -> None:
    """A folder as Ray Tune leaves it: its state (trial id, status, run folder) and each trial's
    results, one row an epoch."""
    data = []
    for number, (trial_id, status, epochs) in enumerate(trials, start=1):
        run = f"{number:03d}_adam_lr1.0e-03"
        data.append([
            json.dumps({"trial_id": trial_id, "status": status, "relative_logdir": run,
                        "config": {"optimizer": "adam", "lr": 1e-3}}),
            json.dumps({"num_failures": 0}),
        ])  # fmt: skip
        rows = [
            {"epoch": e, "val_acc": 0.5 + e / 10, "timestamp": 1000 + e}
            for e in range(1, epochs + 1)
        ]
        (folder / run).mkdir(parents=True)
        (folder / run / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "experiment_state-2026.json").write_text(json.dumps({"trial_data": data}))


def test_trials_the_budget_stopped_read_back_as_such(tmp_path: Path) -> None:
    _experiment(tmp_path, [("a", "TERMINATED", 4), ("b", "TERMINATED", 1), ("c", "TERMINATED", 2)])
    BudgetRecord(12.5, cut={"": ["c"]}, exhausted={"": 7.0}).write(ExperimentStore(str(tmp_path)))
    config = _config("search.budget=7 epochs")
    statuses = {t.trial_id: t.status for t in load_trials(tmp_path, config)}
    assert statuses == {"a": "completed", "b": "stopped early", "c": "stopped at the budget's end"}
    # An experiment without a budget has no such trials, whatever a stray file says.
    assert {t.status for t in load_trials(tmp_path, _config())} == {"completed", "stopped early"}

    write_reports(tmp_path, config)
    summary = " ".join((tmp_path / "summary.md").read_text().split())
    assert (
        "Budget: 7 epochs; spent 7 in 3 trials: 1 completed (4), 1 stopped early by ASHA (1), "
        "1 stopped at the budget's end (2)" in summary
    )
