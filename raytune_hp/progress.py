"""The live progress of a running experiment: one line, as ``raytune-hp tune`` prints it.

The line (at most :data:`WIDTH` columns, as in the example below) says: trials that ended of the
run's budget, how those that did not complete ended (the summary's words:
:data:`raytune_hp.report.trials.ENDED`), trials running (and pending), the best score so far (the
best epoch's metric, as the summary ranks trials) with its run's name (shortened to its number
where the line would be too wide), the time since the run started and an estimate of the time
left. Under a budget in epochs (``search.budget``) the line shows the epochs spent of it instead of
a total of trials; under one in time, the time spent of it and what is left. On a terminal the
line is rewritten in place every :data:`TTY_EVERY_S` seconds; written to a pipe or a log file it is
a plain line every :data:`LOG_EVERY_S` seconds and one at the end, without any control character.

:class:`ProgressLine` is the Ray Tune callback that prints it (importing this module imports Ray
Tune); :func:`progress_text` formats the line from plain counts, without Ray.

Example:
    >>> counts = {"completed": 3, "stopped early": 6, "running": 2}
    >>> print(progress_text(counts, 24, Best("val_acc", 0.99166, "007_adam"), 65, left=80))
    9/24 done (6 stopped early), 2 running | best val_acc 0.9917 (007_adam) | 1m05s, ~1m20s left
    >>> counts = {"completed": 7, "stopped early": 24, "running": 2}
    >>> print(progress_text(counts, None, Best("val_acc", 0.99166, "031"), 65, left=80,
    ...                     budget=(280, 400, "epochs")))
    31 done (24 stopped early), 2 running | 280/400 epochs | best 0.9917 (031) | 1m05s, ~1m20s left
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ray.tune import Callback

from raytune_hp.metrics import SKIPPED, Mode, best_of, to_loss
from raytune_hp.report.trials import (
    ENDED,
    FAILED,
    SKIPPED_STATUS,
    STOPPED_AT_BUDGET,
    STOPPED_EARLY,
    trial_status,
)
from raytune_hp.values import duration, is_finite

if TYPE_CHECKING:
    from raytune_hp.budget.tune_hooks import BudgetStopper

WIDTH = 100
"""The most columns the line takes."""
TTY_EVERY_S = 2.0
"""How often the line is rewritten on a terminal, at most."""
LOG_EVERY_S = 30.0
"""How often a line is written to a pipe or a log file (and once at the end)."""

_ITERATION = "training_iteration"  # Ray's count of a trial's reports: one per epoch here
_NOT_DONE = ("running", "pending", "paused")  # in the order the line lists them
_CLEAR_TO_END = "\x1b[K"
_SHORT = {STOPPED_AT_BUDGET: "at the budget's end"}  # beside "stopped early", in the line


@dataclass(frozen=True)
class Best:
    """The best score so far: the metric's name, its value and the run's name."""

    metric: str
    value: float | None = None
    name: str = ""


def progress_text(
    counts: Mapping[str, int],
    total: int | None,
    best: Best,
    elapsed: float,
    left: float | None = None,
    finished: bool = False,
    label: str = "",
    width: int = WIDTH,
    budget: tuple[float, float, str] | None = None,
) -> str:
    """The progress line.

    Args:
        counts: trials by status: one of :data:`~raytune_hp.report.trials.ENDED`, or
            ``running``, ``pending``, ``paused``.
        total: the run's budget of trials, ``None`` where it is not known.
        best: the best score so far (its ``value`` ``None`` before any).
        elapsed: seconds since the run started.
        left: the estimated seconds left, ``None`` where it cannot be estimated yet (``?``).
        finished: the run is over: the time it took, nothing left.
        label: what the line is about where an experiment has several runs (``coarse``).
        width: the most characters the line takes. Where it would take more, the best run's
            name is shortened first (by whole parts, down to its number), then the metric's
            name goes, then the breakdown of how trials ended (but failures); what is still too
            long is cut.
        budget: under ``search.budget``: what was spent of it, its limit (of this run: a phase's
            share) and their unit, ``epochs`` or ``seconds``; it takes ``total``'s place, and a
            time budget's spent and left take the times' place.

    Example:
        >>> progress_text({"running": 2}, 24, Best("val_loss"), elapsed=4)
        '0/24 done, 2 running | no val_loss yet | 4s, ? left'
        >>> best = Best("val_acc", 0.98611, "017_adamw_lr1.2e-03")
        >>> progress_text({"completed": 8, "skipped": 1}, 9, best, 620, finished=True, width=70)
        '9/9 done (1 skipped) | best val_acc 0.9861 (017_adamw) | took 10m20s'
        >>> progress_text({"completed": 3}, None, best, 65, budget=(1805, 3600, "seconds"))
        '3 done | best val_acc 0.9861 (017_adamw_lr1.2e-03) | 30m05s of 1h00m, 29m55s left'
    """
    done = sum(counts.get(status, 0) for status in ENDED)
    why = ", ".join(f"{counts[s]} {_SHORT.get(s, s)}" for s in ENDED[1:] if counts.get(s, 0) > 0)
    failed = counts.get(FAILED, 0)
    head = f"{label}: " if label else ""
    head += f"{done}/{total} done" if total and budget is None else f"{done} done"
    waiting = "".join(f", {counts[s]} {s}" for s in _NOT_DONE if counts.get(s, 0) > 0)
    spent = ""
    if budget is not None and budget[2] == "epochs":
        spent = f" | {budget[0]:.0f}/{budget[1]:.0f} epochs"
    if budget is not None and budget[2] == "seconds":
        used, limit = duration(budget[0]), duration(budget[1])
        times = f"took {used} of {limit}" if finished else f"{used} of {limit}, "
        times += "" if finished else f"{duration(max(0.0, budget[1] - budget[0]))} left"
    elif finished:
        times = f"took {duration(elapsed)}"
    else:
        times = f"{duration(elapsed)}, {'?' if left is None else '~' + duration(left)} left"

    def line(name: str, metric: bool, breakdown: bool) -> str:
        if best.value is None:
            score = f"no {best.metric} yet"
        else:
            score = f"best {best.metric + ' ' if metric else ''}{best.value:.4g}"
            score += f" ({name})" if name else ""
        if why and breakdown:
            tally = f"{head} ({why}){waiting}"
        else:  # failures still show
            tally = f"{head}{waiting}" + (f", {failed} failed" if failed else "")
        return f"{tally}{spent} | {score} | {times}"

    parts = best.name.split("_")
    names = ["_".join(parts[:n]) for n in range(len(parts), 0, -1)]
    fits = [line(name, True, True) for name in names]
    fits += [line(names[-1], False, True), line(names[-1], False, False)]
    text = next((text for text in fits if len(text) <= width), fits[-1])
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class _Seen:
    """What the line needs of one trial, as plain data (the callback is pickled with the
    Tuner's state, Ray's trials are not kept)."""

    status: str
    name: str
    iterations: int = 0
    best: float | None = None


class ProgressLine(Callback):
    """A Ray Tune callback that prints the experiment's progress as one line (see the module).

    The time left is estimated in epochs, from the trials that ended: a trial not started yet
    will train as many as they did on average (ASHA's pruning included); a running one that has
    trained ``n`` will train as many more as the ended trials that went beyond ``n`` did beyond
    it, on average (the whole budget, ``max_epochs``, where none did: it has outlived them all).
    Those epochs divided by the epochs per second trained so far in this session (all trials
    together, so the concurrency is in it) are the time left. It is ``?`` until a trial has
    ended and an epoch has been reported.

    Args:
        metric: the metric the search optimizes.
        mode: ``max`` or ``min``: which way ``metric`` is better.
        max_epochs: a trial's budget (a trial that ended sooner was stopped early).
        label: what the line is about where an experiment has several runs (a phase).
        stream: where to print; ``sys.stdout`` (as it is when printing) by default.
        clock: seconds, for the time since the start and between lines.
        budget: the run's :class:`~raytune_hp.budget.tune_hooks.BudgetStopper` under
            ``search.budget``: the line shows what was spent of it, the trials it stopped, and,
            for a budget in epochs, the epochs left of it at the rate trained so far as the time
            left.

    Example:
        >>> import io
        >>> class Out(io.StringIO):
        ...     def isatty(self) -> bool:
        ...         return False
        >>> out, ticks = Out(), iter([0.0, 31.0, 31.5])
        >>> line = ProgressLine("val_acc", "max", 4, stream=out, clock=lambda: next(ticks))
        >>> line.setup(total_num_samples=3)
        >>> line.on_experiment_end(trials=[])
        >>> out.getvalue()
        '0/3 done | no val_acc yet | took 31s\\n'
    """

    def __init__(
        self,
        metric: str,
        mode: Mode,
        max_epochs: int,
        label: str = "",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: BudgetStopper | None = None,
    ) -> None:
        self.metric, self.mode, self.max_epochs, self.label = metric, mode, max_epochs, label
        self.stream, self.clock, self.budget = stream, clock, budget
        self.total: int | None = None
        self._seen: dict[str, _Seen] = {}
        self._reported = 0
        self._started = self._printed = 0.0

    # --- Ray Tune's hooks -----------------------------------------------------------------

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        """The run starts (or resumes): the clock starts, and Ray says the budget."""
        self.total = total_num_samples or self.total
        self._seen, self._reported = {}, 0
        self._started = self._printed = self.clock()

    def on_trial_result(
        self,
        iteration: int,
        trials: Sequence[Any],
        trial: Any,
        result: Mapping[str, Any],
        **info: Any,
    ) -> None:
        seen = self._see(trial)
        self._reported += 1
        value: Any = result.get(self.metric)
        if is_finite(value) and result.get(SKIPPED) is not True:
            seen.best = value if seen.best is None else best_of([seen.best, value], self.mode)
        self._update(trials)

    def on_trial_complete(
        self, iteration: int, trials: Sequence[Any], trial: Any, **info: Any
    ) -> None:
        self._see(trial, "TERMINATED")  # Ray says so only after its callbacks have run
        self._update(trials)

    def on_trial_error(
        self, iteration: int, trials: Sequence[Any], trial: Any, **info: Any
    ) -> None:
        self._see(trial, "ERROR")
        self._update(trials)

    def on_step_end(self, iteration: int, trials: Sequence[Any], **info: Any) -> None:
        self._update(trials)

    def on_experiment_end(self, trials: Sequence[Any], **info: Any) -> None:
        for trial in trials:
            self._see(trial)
        self._print(final=True)

    # --- the line -------------------------------------------------------------------------

    def text(self, finished: bool = False, width: int = WIDTH) -> str:
        """The line as it stands, at most ``width`` characters."""
        counts: dict[str, int] = {}
        for seen in self._seen.values():
            counts[seen.status] = counts.get(seen.status, 0) + 1
        scored = [seen for seen in self._seen.values() if seen.best is not None]
        best = Best(self.metric)
        if scored:
            top = min(scored, key=lambda seen: to_loss(seen.best or 0.0, self.mode))
            best = Best(self.metric, top.best, top.name)
        elapsed = self.clock() - self._started
        left = self.time_left(elapsed)
        spending = self.budget.spending() if self.budget is not None else None
        return progress_text(
            counts, self.total, best, elapsed, left, finished, self.label, width, spending
        )

    def time_left(self, elapsed: float) -> float | None:
        """Seconds left, estimated as the class says; ``None`` until that can be done."""
        if self.budget is not None and self._reported > 0 and elapsed > 0:
            spent, limit, unit = self.budget.spending()
            if unit == "epochs":
                return max(0.0, limit - spent) / (self._reported / elapsed)
        ended = [seen.iterations for seen in self._seen.values() if seen.status not in _NOT_DONE]
        if not ended or self._reported == 0 or elapsed <= 0 or self.total is None:
            return None
        running = [seen.iterations for seen in self._seen.values() if seen.status in _NOT_DONE]
        not_started = max(0, self.total - len(self._seen))

        def to_go(n: int) -> float:
            beyond = [epochs - n for epochs in ended if epochs > n]
            return sum(beyond) / len(beyond) if beyond else max(0, self.max_epochs - n)

        epochs_left = not_started * to_go(0) + sum(to_go(n) for n in running)
        return epochs_left / (self._reported / elapsed)

    def _see(self, trial: Any, ray_status: str | None = None) -> _Seen:
        """The trial's record, brought up to date with what Ray says of it (its status, unless
        ``ray_status`` is known better)."""
        last = dict(getattr(trial, "last_result", None) or {})
        ray_status = ray_status or str(trial.status)
        status, _ = trial_status(ray_status, [last] if last else [], self.max_epochs)
        if (
            status == STOPPED_EARLY
            and self.budget is not None
            and trial.trial_id in self.budget.ledger.cut
        ):
            status = STOPPED_AT_BUDGET
        name = str(getattr(trial, "relative_logdir", None) or trial)
        iterations = int(last[_ITERATION]) if is_finite(last.get(_ITERATION)) else 0
        seen = self._seen.get(trial.trial_id)
        if seen is not None and seen.status not in _NOT_DONE and status in _NOT_DONE:
            status = seen.status  # ended in on_trial_complete, before Ray updated its status
        if seen is None:
            seen = self._seen[trial.trial_id] = _Seen(status, name, iterations)
            # A trial restored from an earlier session: Ray kept its best value.
            analysis = getattr(trial, "metric_analysis", None) or {}
            value = analysis.get(self.metric, {}).get(self.mode)
            seen.best = value if is_finite(value) and status != SKIPPED_STATUS else None
        seen.status, seen.name, seen.iterations = status, name, iterations
        return seen

    def _update(self, trials: Sequence[Any]) -> None:
        """Prints the line when it is time; every trial is looked at only then (Ray calls this
        many times a second)."""
        if self.clock() - self._printed < (TTY_EVERY_S if self._tty() else LOG_EVERY_S):
            return
        for trial in trials:
            self._see(trial)
        self._print()

    def _print(self, final: bool = False) -> None:
        stream = self.stream or sys.stdout
        if self._tty():
            # A line wider than the terminal would wrap, and \r would rewrite only its end.
            columns = shutil.get_terminal_size((WIDTH + 1, 24)).columns
            text = self.text(final, width=max(20, min(WIDTH, columns - 1)))
            stream.write(f"\r{text}{_CLEAR_TO_END}" + ("\n" if final else ""))
        else:
            stream.write(f"{self.text(final)}\n")
        stream.flush()
        self._printed = self.clock()

    def _tty(self) -> bool:
        stream = self.stream or sys.stdout
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
