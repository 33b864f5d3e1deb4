"""A budget in epochs, for real: the quickstart shrunk (3 epochs a trial, 21 epochs in all) runs
more trials under ASHA than without early stopping for the same budget, never spends more than
the budget, says how it was spent in summary.md, and grows with a larger budget on resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.config.budget import BudgetConfig
from raytune_hp.experiment import run_experiment
from raytune_hp.results import ExperimentResult

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUDGET, MAX_EPOCHS = 21, 3
SMALL = [
    f"train.max_epochs={MAX_EPOCHS}",
    f"search.budget={BUDGET} epochs",
    "search.max_concurrent=2",
    "early_stopping.grace_period=1",
    "early_stopping.reduction_factor=3",
    "space.num_kernels={low: 100, high: 120}",
    "space.batch_size=128",
    "space.optimizer=[adam, adamw]",
]


def _config(tmp: Path, name: str, *more: str) -> ExperimentConfig:
    overrides = [*SMALL, f"name={name}", f"storage={tmp}", "search.num_samples=100", *more]
    return load_config(REPO / "configs" / "quickstart.yaml", overrides)


def _epochs_on_disk(exp_dir: Path) -> dict[str, int]:
    """Every trial's epochs as its own result rows say, by trial folder (all runs)."""
    trained = {}
    for results in exp_dir.rglob("result.json"):
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        trained[str(results.parent.relative_to(exp_dir))] = max(r["epoch"] for r in rows)
    return trained


@pytest.fixture(scope="module")
def runs(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("budget")


@pytest.fixture(scope="module")
def asha(runs: Path) -> ExperimentResult:
    return run_experiment(_config(runs, "asha"))


@pytest.fixture(scope="module")
def no_early_stopping(runs: Path) -> ExperimentResult:
    return run_experiment(_config(runs, "none", "early_stopping.name=none"))


def test_asha_spends_the_same_epochs_on_more_trials(
    asha: ExperimentResult, no_early_stopping: ExperimentResult
) -> None:
    with_asha, without = len(asha.trials), len(no_early_stopping.trials)
    print(f"\n{BUDGET} epochs of {MAX_EPOCHS} a trial: {with_asha} trials under ASHA, {without}")
    print(asha.budget_spent, no_early_stopping.budget_spent, sep="\n")
    assert with_asha > without >= BUDGET // MAX_EPOCHS
    for result in (asha, no_early_stopping):
        assert not result.interrupted
        # Spent to the epoch, never beyond: trials were stopped before an epoch that would not fit.
        assert sum(_epochs_on_disk(Path(result.location)).values()) == BUDGET
        assert sum(trial.epochs for trial in result.trials) == BUDGET
        assert all(trial.epochs <= MAX_EPOCHS for trial in result.trials)
    statuses = {trial.status for trial in asha.trials}
    assert statuses <= {"completed", "stopped early", "stopped at the budget's end"}
    assert {trial.status for trial in no_early_stopping.trials} <= {
        "completed",
        "stopped at the budget's end",
    }


def test_the_summary_and_the_folder_say_how_the_budget_was_spent(asha: ExperimentResult) -> None:
    exp_dir = Path(asha.location)
    summary = " ".join((exp_dir / "summary.md").read_text().split())
    line = asha.budget_spent
    assert line.startswith(
        f"Budget: {BUDGET} epochs; spent {BUDGET} in {len(asha.trials)} trials: "
    )
    assert line in summary
    completed = [t for t in asha.trials if t.status == "completed"]
    assert f"{len(completed)} completed ({MAX_EPOCHS * len(completed)})" in line
    record = json.loads((exp_dir / "budget.json").read_text())
    cut = set(record["cut"].get("", []))
    assert record["exhausted"] == {"": BUDGET}
    assert {t.trial_id for t in asha.trials if t.status == "stopped at the budget's end"} == cut
    assert "num_samples: 100" in (exp_dir / "config.yaml").read_text()  # given: a cap, kept


def test_a_larger_budget_on_resume_grows_the_experiment(asha: ExperimentResult) -> None:
    config = load_config(Path(asha.location) / "config.yaml")
    grown = run_experiment(config, resume=True, budget=BudgetConfig(epochs=BUDGET + 6))
    exp_dir = Path(grown.location)
    added = [t for t in grown.trials if t.phase == "more-1"]
    assert added and len(grown.trials) == len(asha.trials) + len(added)
    assert sum(_epochs_on_disk(exp_dir).values()) == BUDGET + 6
    assert grown.budget_spent.startswith(f"Budget: {BUDGET + 6} epochs; spent {BUDGET + 6} in ")
    assert f"epochs: {BUDGET + 6}" in (exp_dir / "config.yaml").read_text()
