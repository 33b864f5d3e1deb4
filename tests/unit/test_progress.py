"""The one-line progress of ``raytune-hp tune``, fed fake trials and results the way Ray Tune
calls its callbacks (no Ray session): what it counts, the best so far, the time left, its width,
and how it prints on a terminal and in a log."""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from raytune_hp.budget import BudgetLedger
from raytune_hp.budget.tune_hooks import BudgetStopper
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.progress import LOG_EVERY_S, TTY_EVERY_S, WIDTH, Best, ProgressLine, progress_text

REPO = Path(__file__).resolve().parents[2]
MAX_EPOCHS = 4


@dataclass
class FakeTrial:
    """What the callback reads of a Ray Tune trial."""

    trial_id: str
    relative_logdir: str
    status: str = "PENDING"
    last_result: dict[str, Any] = field(default_factory=dict)
    metric_analysis: dict[str, dict[str, float]] = field(default_factory=dict)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Out(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Run:
    """A run as Ray drives the callback: trials start, report epochs, end."""

    def __init__(self, total: int, tty: bool = False, mode: str = "max") -> None:
        self.clock, self.out = Clock(), Out(tty)
        self.line = ProgressLine(
            "val_acc" if mode == "max" else "val_loss",
            "max" if mode == "max" else "min",
            MAX_EPOCHS,
            stream=self.out,
            clock=self.clock,
        )
        self.trials: list[FakeTrial] = []
        self.line.setup(total_num_samples=total)

    def start(self, name: str) -> FakeTrial:
        trial = FakeTrial(f"id{len(self.trials)}", name, "RUNNING")
        self.trials.append(trial)
        return trial

    def report(self, trial: FakeTrial, value: float, **extra: Any) -> None:
        epoch = int(trial.last_result.get("epoch", 0)) + 1
        metric = "val_acc" if self.line.mode == "max" else "val_loss"
        result = {"epoch": epoch, "training_iteration": epoch, metric: value, **extra}
        trial.last_result = result
        self.line.on_trial_result(0, self.trials, trial, result)

    def end(self, trial: FakeTrial, status: str = "TERMINATED") -> None:
        # As Ray does: a failed trial's status is set before the callbacks run, a finished
        # one's after.
        if status == "ERROR":
            trial.status = status
            self.line.on_trial_error(0, self.trials, trial)
        else:
            self.line.on_trial_complete(0, self.trials, trial)
            trial.status = status

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        self.line.on_step_end(0, self.trials)

    def finish(self) -> str:
        self.line.on_experiment_end(self.trials)
        return self.out.getvalue()


# --- the line ---------------------------------------------------------------------------------


def test_the_line_counts_trials_in_the_summarys_words() -> None:
    counts = {"completed": 2, "stopped early": 6, "failed": 1, "running": 2}
    line = progress_text(counts, 24, Best("val_acc", 0.99166, "007_adam"), 59, left=80)
    assert line == (
        "9/24 done (6 stopped early, 1 failed), 2 running | best val_acc 0.9917 (007_adam) | "
        "59s, ~1m20s left"
    )
    # Too wide: the metric's name goes before the breakdown, and failures always show.
    crowded = {**counts, "pending": 12}
    best = Best("val_acc", 0.99, "007")
    assert progress_text(crowded, 124, best, 65) == (
        "9/124 done (6 stopped early, 1 failed), 2 running, 12 pending | best 0.99 (007) | "
        "1m05s, ? left"
    )
    assert progress_text(crowded, 124, best, 65, width=80) == (
        "9/124 done, 2 running, 12 pending, 1 failed | best 0.99 (007) | 1m05s, ? left"
    )


def test_before_any_result_and_at_the_end() -> None:
    assert (
        progress_text({"pending": 2}, 24, Best("val_loss"), elapsed=3)
        == "0/24 done, 2 pending | no val_loss yet | 3s, ? left"
    )
    end = progress_text({"completed": 24}, 24, Best("val_acc", 0.98, "003"), 3725, finished=True)
    assert end == "24/24 done | best val_acc 0.98 (003) | took 1h02m"
    assert progress_text({}, None, Best("val_acc"), 0, label="coarse").startswith(
        "coarse: 0 done |"
    )


def test_a_line_too_wide_shortens_the_run_name_first() -> None:
    counts = {"completed": 1, "stopped early": 6, "failed": 1, "running": 2}
    best = Best("val_acc", 0.99166, "007_adam_lr3.2e-03")
    full = progress_text(counts, 24, best, 59, left=80, width=200)
    assert "(007_adam_lr3.2e-03)" in full and len(full) > WIDTH
    line = progress_text(counts, 24, best, 59, left=80)
    # Whole parts of the name go, the counts, the metric and the times stay.
    assert line == full.replace("007_adam_lr3.2e-03", "007_adam")
    assert len(line) == WIDTH
    later = progress_text(counts, 24, best, 65, left=80)  # 1m05s: two more characters
    assert later == full.replace("007_adam_lr3.2e-03", "007").replace("59s", "1m05s")


@pytest.mark.parametrize("width", [100, 80, 60, 40])
def test_the_line_never_exceeds_its_width(width: int) -> None:
    counts = {
        "completed": 120, "stopped early": 300, "diverged": 12, "failed": 7,
        "out of memory": 3, "skipped": 9, "running": 16, "pending": 40,
    }  # fmt: skip
    best = Best("val_loss_of_a_custom_function", 1234.5678, "0412_rmsprop_lr1.0e-04_extra")
    line = progress_text(counts, 1000, best, 98765, left=123456, width=width)
    assert len(line) <= width
    assert line.startswith("451/1000 done")
    if width >= 100:
        assert "16 running" in line and "left" in line


# --- the callback, as Ray drives it -------------------------------------------------------------


def test_it_counts_how_trials_ended_and_ranks_by_the_best_epoch() -> None:
    run = Run(total=5)
    completed, stopped, failed, diverged, skipped = (
        run.start(name) for name in ("001_adam", "002_sgd", "003_nadam", "004_sgd", "005_adamw")
    )
    for value in (0.80, 0.95, 0.90, 0.91):  # its best epoch is the second, not the last
        run.report(completed, value)
    run.end(completed)
    run.report(stopped, 0.93)
    run.end(stopped)  # 1 epoch of 4: ASHA stopped it
    run.report(failed, 0.5)
    run.end(failed, "ERROR")
    run.report(diverged, 0.0, diverged=True)
    run.end(diverged)
    run.report(skipped, 0.0, skipped=True, num_params=10, train_samples=4)
    run.end(skipped)
    final = run.finish().splitlines()[-1]
    assert final.startswith(
        "5/5 done (1 stopped early, 1 diverged, 1 failed, 1 skipped) | best val_acc 0.95 "
        "(001_adam) | took "
    )


def test_a_lower_metric_is_better_in_min_mode() -> None:
    run = Run(total=2, mode="min")
    first, second = run.start("001_a"), run.start("002_b")
    run.report(first, 0.40)
    run.report(second, 0.25)
    run.report(second, 0.31)
    assert "best val_loss 0.25 (002_b)" in run.line.text()


def test_a_trial_restored_from_an_earlier_session_keeps_its_best() -> None:
    run = Run(total=2)
    restored = FakeTrial(
        "old", "001_adam", "TERMINATED", {"epoch": 4, "training_iteration": 4, "val_acc": 0.9},
        metric_analysis={"val_acc": {"max": 0.97, "min": 0.5, "last": 0.9}},
    )  # fmt: skip
    run.trials.append(restored)
    run.line.on_step_end(0, run.trials)
    run.tick(TTY_EVERY_S + LOG_EVERY_S)
    assert "1/2 done | best val_acc 0.97 (001_adam)" in run.out.getvalue()


def test_the_time_left_is_a_question_mark_until_a_trial_ended() -> None:
    run = Run(total=6)
    first, second = run.start("001"), run.start("002")
    for trial in (first, second):
        run.report(trial, 0.5)
    run.tick(10)
    assert run.line.text().endswith("10s, ? left")
    run.report(first, 0.6)
    run.end(first, "TERMINATED")  # stopped early after 2 epochs
    run.report(second, 0.7)
    run.tick(10)
    # 4 epochs in 20 s: 0.2 epochs/s. The trial that ended trained 2 epochs: 4 trials not
    # started are 8 epochs; the one running has trained 2 and none went further, so it goes on
    # to the budget of 4: 2 more. 10 epochs / 0.2 = 50 s.
    assert run.line.time_left(20) == pytest.approx(50)
    assert run.line.text().endswith("20s, ~50s left")
    third = run.start("003")
    run.report(third, 0.4)
    run.end(third)  # after 1 epoch: trials that ended trained 1.5 epochs on average
    run.tick(5)
    # 5 epochs in 25 s; 3 trials not started at 1.5 each, the running one 2 more: 6.5 / 0.2
    assert run.line.text().endswith("25s, ~32s left")


# --- under a budget ----------------------------------------------------------------------------


def test_under_a_budget_the_line_shows_it_instead_of_a_total_of_trials() -> None:
    counts = {"completed": 7, "stopped early": 24, "running": 2}
    best = Best("val_acc", 0.99166, "031_adam")
    epochs = progress_text(counts, 24, best, 65, left=80, budget=(280, 400, "epochs"), width=120)
    assert epochs == (
        "31 done (24 stopped early), 2 running | 280/400 epochs | best val_acc 0.9917 (031_adam)"
        " | 1m05s, ~1m20s left"
    )
    done = {"completed": 9, "stopped early": 30, "stopped at the budget's end": 2}
    end = progress_text(done, None, best, 600, finished=True, budget=(400, 400, "epochs"))
    assert end == (
        "41 done (30 stopped early, 2 at the budget's end) | 400/400 epochs | best 0.9917 (031) | "
        "took 10m00s"
    )
    # A time budget: the time spent of it (every session's) and what is left, exactly.
    time = progress_text(counts, None, best, 65, left=80, budget=(1805, 3600, "seconds"))
    assert time.endswith(" | 30m05s of 1h00m, 29m55s left")
    over = progress_text(counts, None, best, 65, finished=True, budget=(3600.4, 3600, "seconds"))
    assert over.endswith(" | took 1h00m of 1h00m")


class Budgeted(Run):
    """A run under a budget of ``limit`` epochs, with the stopper Ray would call on results."""

    def __init__(self, limit: int) -> None:
        self.budget = BudgetStopper(BudgetLedger("epochs", limit, MAX_EPOCHS), None, "")
        self.budget.setup()
        super().__init__(total=2**63 - 1)  # what Ray says of num_samples=-1
        self.line.budget = self.budget

    def start(self, name: str) -> FakeTrial:
        assert self.budget.may_start()
        trial = super().start(name)
        self.budget.ledger.started(trial.trial_id)
        return trial

    def report(self, trial: FakeTrial, value: float, **extra: Any) -> None:
        epoch = int(trial.last_result.get("epoch", 0)) + 1
        self.cut = self.budget(trial.trial_id, {"epoch": epoch})
        super().report(trial, value, **extra)

    def end(self, trial: FakeTrial, status: str = "TERMINATED") -> None:
        super().end(trial, status)
        self.budget.ledger.ended(trial.trial_id)


def test_a_budgeted_run_counts_epochs_and_the_trials_the_budget_stopped() -> None:
    run = Budgeted(limit=7)
    first, second = run.start("001"), run.start("002")
    for _ in range(2):
        run.report(first, 0.5)
        run.report(second, 0.6)
    run.end(second)  # stopped early by ASHA at 2
    run.tick(20)  # 4 epochs in 20 s, 3 left of the budget: 15 s
    assert run.line.text() == (
        "1 done (1 stopped early), 1 running | 4/7 epochs | best val_acc 0.6 (002) | 20s, ~15s left"
    )
    third = run.start("003")  # 4 spent + 2 that the first may still train: 1 epoch free
    run.report(first, 0.7)
    run.report(third, 0.4)
    assert run.cut  # 6 spent, the first training its last: no room for the third's second
    run.end(third)
    run.report(first, 0.8)
    run.end(first)
    assert run.finish().splitlines()[-1] == (
        "3 done (1 stopped early, 1 at the budget's end) | 7/7 epochs | best val_acc 0.8 (001) | "
        "took 20s"
    )


def test_in_a_log_it_writes_a_plain_line_every_30_seconds_and_at_the_end() -> None:
    run = Run(total=2, tty=False)
    trial = run.start("001_adam")
    run.tick(1)
    assert run.out.getvalue() == ""  # nothing before 30 s
    run.report(trial, 0.9)
    run.tick(LOG_EVERY_S)
    assert run.out.getvalue().count("\n") == 1
    run.tick(LOG_EVERY_S / 2)
    assert run.out.getvalue().count("\n") == 1
    run.end(trial)
    run.start("002_sgd")
    run.tick(LOG_EVERY_S / 2)
    printed = run.finish()
    lines = printed.splitlines()
    assert lines == [
        "0/2 done, 1 running | best val_acc 0.9 (001_adam) | 31s, ? left",
        # 1 epoch in 61 s, a trial ends after 1 on average, and one has not trained any yet
        "1/2 done (1 stopped early), 1 running | best val_acc 0.9 (001_adam) | 1m01s, ~1m01s left",
        "1/2 done (1 stopped early), 1 running | best val_acc 0.9 (001_adam) | took 1m01s",
    ]
    assert printed.endswith("\n") and not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", printed)


def test_on_a_terminal_it_rewrites_one_line_every_2_seconds_and_ends_it() -> None:
    run = Run(total=1, tty=True)
    trial = run.start("001_adam")
    for _ in range(10):
        run.tick(TTY_EVERY_S / 4)  # 5 s in steps of 0.5 s
    run.report(trial, 0.9)
    printed = run.finish()
    assert printed.count("\r") == 3  # at 2 s, at 4 s, and at the end
    assert printed.count("\x1b[K") == 3
    assert printed.count("\n") == 1 and printed.endswith("\x1b[K\n")
    assert printed.startswith("\r0/1 done, 1 running | no val_acc yet | 2s, ? left\x1b[K\r")


def test_a_trial_counts_as_ended_when_ray_says_so_even_before_its_status_changes() -> None:
    run = Run(total=2)
    first = run.start("001_adam")
    run.report(first, 0.9)
    run.clock.now += LOG_EVERY_S  # the line is due when the trial ends
    run.line.on_trial_complete(0, run.trials, first)  # Ray still says RUNNING
    assert run.out.getvalue().startswith("1/2 done (1 stopped early) | best val_acc 0.9 ")


def test_on_a_narrow_terminal_the_line_fits_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    run = Run(total=24, tty=True)
    trials = [run.start(f"{i:03d}_adamw_lr3.2e-03") for i in range(1, 13)]
    for trial in trials:
        run.report(trial, 0.9)
        run.end(trial)
        run.tick(TTY_EVERY_S)
    frames = run.finish().replace("\x1b[K", "").strip("\r\n").split("\r")
    assert len(frames) == 13 and all(len(frame) <= 59 for frame in frames)
    assert frames[-1].startswith("12/24 done (12 stopped early) | best ")


def test_it_pickles_with_the_tuner_state() -> None:
    # Ray Tune pickles the run config, callbacks included, to resume the experiment later.
    line = ProgressLine("val_acc", "max", 4)
    line.setup(total_num_samples=3)
    restored = pickle.loads(pickle.dumps(line))
    assert restored.total == 3 and restored.text().startswith("0/3 done")


# --- what `tune` shows --------------------------------------------------------------------------


def run_config(config: ExperimentConfig, verbose: bool, table: bool) -> Any:
    from raytune_hp.experiment import _run_config
    from raytune_hp.storage import ExperimentStore

    space = config.search_space()
    target = ExperimentStore(f"/tmp/runs/{config.name}")
    return _run_config(config, "/tmp/runs", config.name, space, verbose, target, table)


def test_verbose_tune_shows_the_line_and_the_table_only_when_asked(
    quickstart: ExperimentConfig,
) -> None:
    lines = run_config(quickstart, verbose=True, table=False)
    assert [type(c).__name__ for c in lines.callbacks][-1] == "ProgressLine"
    assert lines.progress_reporter is None and lines.verbose == 0
    table = run_config(quickstart, verbose=True, table=True)
    assert not any(isinstance(c, ProgressLine) for c in table.callbacks)
    assert type(table.progress_reporter).__name__ == "CLIReporter" and table.verbose == 1
    quiet = run_config(quickstart, verbose=False, table=True)
    assert quiet.progress_reporter is None and quiet.verbose == 0
    assert not any(isinstance(c, ProgressLine) for c in quiet.callbacks)


def test_the_table_shows_only_hyperparameters_every_trial_has() -> None:
    # Ray's table looks every column up in the best trial's config at the end: warmup_steps,
    # which only the noam and bert schedules have, failed the run with a KeyError.
    config = load_config(REPO / "configs" / "cnn_tricks.yaml")
    reporter = run_config(config, verbose=True, table=True).progress_reporter
    columns = list(reporter._parameter_columns)
    assert "warmup_steps" in config.search_space().tuned
    assert "warmup_steps" not in columns and "power" not in columns
    assert {"optimizer", "lr", "schedule", "batch_size"} <= set(columns)
