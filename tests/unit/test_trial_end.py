"""The end the driver writes into each trial's TensorBoard run, fed fake trials as Ray Tune's
callbacks see them: stopped early by ASHA, or stopped at the budget's end (which is no early
stop), also for a trial the budget stopped with the whole run, of which no callback hears."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from raytune_hp.budget import BudgetLedger
from raytune_hp.budget.tune_hooks import BudgetStopper
from raytune_hp.report.trials import TIMED_OUT_FILE
from raytune_hp.storage import ExperimentStore
from raytune_hp.tb_logger import STOPPED_EARLY
from raytune_hp.trial_end import TrialEndWriter


@dataclass
class FakeTrial:
    trial_id: str
    epochs: int
    last_result: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.last_result = {"epoch": self.epochs, "val_acc": 0.9}
        self.run_metadata = SimpleNamespace(num_failures=0)
        self.storage = SimpleNamespace(trial_dir_name=f"run_{self.trial_id}")


def _end(folder: Path) -> tuple[str, list[float]]:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    text = events.Tensors("status/text_summary")[-1].tensor_proto.string_val[0].decode()
    return text, [s.value for s in events.Scalars(STOPPED_EARLY)]


def test_a_trial_the_budget_stopped_says_so_and_is_no_early_stop(tmp_path: Path) -> None:
    budget = BudgetStopper(BudgetLedger("epochs", 3, max_epochs=4), None, "")
    budget.setup()
    budget.ledger.started("a")
    budget.ledger.started("b")
    budget("a", {"epoch": 1})
    budget("b", {"epoch": 1})
    assert budget("a", {"epoch": 2})  # 3 spent: a stops at the budget's end
    writer = TrialEndWriter(ExperimentStore(str(tmp_path)), 4, budget)
    writer.on_trial_complete(0, [], FakeTrial("a", 2))
    budget.ledger.cut.add("b")  # as when time runs out: Ray stops b with the run, silently
    writer.on_trial_complete(0, [], FakeTrial("c", 1))  # c was stopped by ASHA
    never_trained = FakeTrial("d", 0)
    budget.ledger.cut.add("d")
    writer.on_experiment_end([FakeTrial("b", 1), FakeTrial("c", 1), never_trained])
    assert _end(tmp_path / "run_a") == ("stopped at the budget's end at epoch 2", [0.0])
    assert _end(tmp_path / "run_b") == ("stopped at the budget's end at epoch 1", [0.0])
    assert _end(tmp_path / "run_c") == ("stopped early by ASHA at epoch 1", [1.0])
    assert not (tmp_path / "run_d").exists()  # no run in TensorBoard for what never trained


def test_without_a_budget_a_short_trial_was_stopped_by_asha(tmp_path: Path) -> None:
    writer = TrialEndWriter(ExperimentStore(str(tmp_path)), 4)
    writer.on_trial_complete(0, [], FakeTrial("t", 2))
    writer.on_experiment_end([FakeTrial("t", 2)])
    assert _end(tmp_path / "run_t") == ("stopped early by ASHA at epoch 2", [1.0])


def test_a_timed_out_trial_says_which_limit_it_broke(tmp_path: Path) -> None:
    folder = tmp_path / "run_t"
    folder.mkdir()
    (folder / TIMED_OUT_FILE).write_text('{"limit": "epoch", "seconds": 60, "epochs": 2}')
    writer = TrialEndWriter(ExperimentStore(str(tmp_path)), 4)
    writer.on_trial_error(0, [], FakeTrial("t", 2))
    assert _end(folder) == (
        "timed out: no report within 1 min after epoch 2 (train.trial_timeout.epoch)",
        [0.0],
    )
