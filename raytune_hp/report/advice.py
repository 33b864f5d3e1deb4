"""What to do with each tuned hyperparameter next time, in the words a practitioner uses: for a
choice, which values do well and which to drop; for a range, where its good region lies and
whether to narrow the range to it (or widen it, where the best trials sit at one end).

The words come from the trials' scores at one comparable epoch (see
:func:`raytune_hp.report.importance.comparable_scores`): per value of a choice its best and mean
score and the trials behind them; for a range, the values of the best quarter of the trials.

Example:
    >>> import textwrap
    >>> from raytune_hp.spaces import resolve_space
    >>> from raytune_hp.report.trials import TrialRecord
    >>> kernel = resolve_space("cnn")["kernel_size"]
    >>> scores = {1: [0.93, 0.91], 3: [0.99], 5: [0.99, 0.98]}
    >>> compared = [
    ...     (TrialRecord(f"t{size}{i}", "completed", {"kernel_size": size}, s, 9), s)
    ...     for size, values in scores.items() for i, s in enumerate(values)
    ... ]
    >>> advice = choice_advice(kernel, compared, "max", epoch=9)
    >>> advice.action
    'drop 1'
    >>> print(textwrap.fill(advice.text, 88))
    3 (0.99, 1 trial) and 5 (best 0.99, mean 0.985 of 2 trials) do well; 1 (2 trials, best
    0.93 at epoch 9) is the worst: its trials were all in the bottom quarter at the last
    epoch they reached; 7 never tried: drop 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from raytune_hp.metrics import Mode, to_loss
from raytune_hp.report.dimensions import is_log, on_search_scale
from raytune_hp.report.trials import TrialRecord
from raytune_hp.search.narrowing import fine_range
from raytune_hp.spaces import OPTIMIZER, Dimension
from raytune_hp.values import compact

GOOD_SHARE = 4
"""The best ``1 / GOOD_SHARE`` of the compared trials, the best quarter, mark what does well: a
choice's values among them, a range's region they lie in (two trials at least)."""
NARROW_BELOW = 0.5
"""A good region narrower than this share of the range (on its search scale): narrow it."""
EDGE = 0.05
"""A good region this close to an end of the range (a share of its width) touches that end."""
WORST_STANDING = 0.75
"""A trial this far down where it last stood (the share of its peers that did better) is in
the bottom quarter; a value all of whose trials were is the worst, to be dropped."""
MIN_FOR_A_REGION = 4  # fewer compared trials than this cannot place a good region

Compared = Sequence[tuple[TrialRecord, float]]
"""The trials compared at one epoch, each with its score there."""
Standings = Sequence[tuple[TrialRecord, float]]
"""Trials that ended before that epoch, each with its standing at the last epoch it reached."""


@dataclass(frozen=True)
class Advice:
    """What to do with one hyperparameter next time: ``action`` in a few words (``drop 1``,
    ``narrow to [2.1e-3, 8.9e-3]``, ``keep the range``), ``text`` the sentence with the numbers
    behind it, and ``changes`` whether the action changes the space.

    Example:
        >>> advice = Advice("drop 1", "1 (2 trials, best 0.93) is worst: ...: drop 1.", True)
        >>> advice.action, advice.changes
        ('drop 1', True)
    """

    action: str
    text: str
    changes: bool = False


def advise(
    dims: Sequence[Dimension],
    compared: Compared,
    mode: Mode,
    behind: Standings = (),
    epoch: int | None = None,
) -> dict[str, Advice]:
    """Advice on each of ``dims``: :func:`choice_advice` for a choice (the values to drop chosen
    across all of them, :func:`worst_values`), :func:`range_advice` for anything else."""
    choices = [dim for dim in dims if dim.kind == "choice"]
    dropped = worst_values(choices, compared, mode, behind)
    return {
        dim.name: choice_advice(dim, compared, mode, behind, epoch, dropped)
        if dim.kind == "choice"
        else range_advice(dim, compared, mode)
        for dim in dims
    }


Dropped = dict[tuple[str, Any], list[tuple[str, Any]]]
"""The values to drop, as ``(hyperparameter, value)``, in the order found, each with the values
dropped before it that explained some of its trials."""


def worst_values(
    dims: Sequence[Dimension], compared: Compared, mode: Mode, behind: Standings = ()
) -> Dropped:
    """The choices' values to drop: those whose trials (two at least: one is too few to tell)
    were all in the bottom quarter at the last epoch they reached, compared or stopped, and
    none among the best quarter of the compared trials.

    A trial has every hyperparameter's value at once: three trials with kernel size 1 that
    failed also make their optimizers look bad. So the values are found one at a time, the one
    with the most such trials first, and a trial counts against one value only: adam's trials
    that had kernel size 1 are explained by it and do not count against adam.
    """
    standing = _standings(compared, behind, mode)
    trials = [trial for trial, _ in compared] + [trial for trial, _ in behind]
    bar = _bar([score for _, score in compared], mode)
    good = {
        (dim.name, trial.hparams[dim.name])
        for trial, score in compared
        for dim in dims
        if dim.name in trial.hparams and _reaches(score, bar, mode)
    }
    explained: dict[int, tuple[str, Any]] = {}
    dropped: Dropped = {}
    while True:
        found = []
        for dim in dims:
            for value in dict.fromkeys(
                t.hparams[dim.name] for t in trials if dim.name in t.hparams
            ):
                if (dim.name, value) in good or (dim.name, value) in dropped:
                    continue
                own = [t for t in trials if _has(t, dim.name, value) and id(t) not in explained]
                if len(own) > 1 and all(standing[id(t)] >= WORST_STANDING for t in own):
                    mean = sum(standing[id(t)] for t in own) / len(own)
                    found.append((len(own), mean, dim.name, value))
        if not found:
            return dropped
        _, _, name, value = max(found, key=lambda candidate: candidate[:2])
        mine = [t for t in trials if _has(t, name, value)]
        dropped[(name, value)] = list(
            dict.fromkeys(explained[id(t)] for t in mine if id(t) in explained)
        )
        explained |= {id(t): (name, value) for t in mine if id(t) not in explained}


def choice_advice(
    dim: Dimension,
    compared: Compared,
    mode: Mode,
    behind: Standings = (),
    epoch: int | None = None,
    dropped: Dropped | None = None,
) -> Advice:
    """Which values of a choice do well, which trail, which never reached ``epoch``, and which
    to drop.

    A value does well when one of its trials is among the best quarter of ``compared``, and
    trails otherwise. ``behind`` are the trials that ended before ``epoch`` (stopped early,
    diverged, failed), each with its standing where it stopped (0 the best there, near 1 the
    worst). The values to drop are ``dropped``'s (:func:`worst_values` of this choice alone
    where not given).
    """
    if dropped is None:
        dropped = worst_values([dim], compared, mode, behind)
    worst = {value: before for (name, value), before in dropped.items() if name == dim.name}
    present = [(trial, score) for trial, score in compared if dim.name in trial.hparams]
    scores: dict[Any, list[float]] = {}
    for trial, score in present:
        scores.setdefault(trial.hparams[dim.name], []).append(score)
    stopped: dict[Any, list[TrialRecord]] = {}
    for trial, _ in behind:
        if dim.name in trial.hparams:
            stopped.setdefault(trial.hparams[dim.name], []).append(trial)

    bar = _bar([score for _, score in compared], mode)
    ranked = sorted(scores, key=lambda value: to_loss(_best(scores[value], mode), mode))
    good = [value for value in ranked if _reaches(_best(scores[value], mode), bar, mode)]
    trailing = [value for value in ranked if value not in good and value not in worst]
    never = [value for value in stopped if value not in scores and value not in worst]
    tried = {*scores, *stopped}
    untried = [value for value in dim.choices if value not in tried]

    clauses = []
    if good:
        listed = _and([_value_scores(value, scores[value], mode) for value in good])
        clauses.append(f"{listed} {'does' if len(good) == 1 else 'do'} well")
    if trailing:
        listed = _and([_value_scores(value, scores[value], mode) for value in trailing])
        clauses.append(f"{listed} trail{'s' if len(trailing) == 1 else ''}")
    if never:
        listed = _and([f"{compact(value)} ({_trials(len(stopped[value]))})" for value in never])
        clauses.append(f"{listed} never reached epoch {epoch}")
    plain = [value for value, before in worst.items() if not before]
    if plain:
        listed = _and([_worst_showing(value, scores, stopped, mode, epoch) for value in plain])
        one = len(plain) == 1
        clauses.append(
            f"{listed} {'is' if one else 'are'} the worst: {'its' if one else 'their'} trials were "
            "all in the bottom quarter at the last epoch they reached"
        )
    for value, before in worst.items():
        if before:
            besides = _and([f"{name} {compact(other)}" for name, other in before])
            clauses.append(
                f"{_worst_showing(value, scores, stopped, mode, epoch)} is among the worst: its "
                f"trials without {besides} were all in the bottom quarter at the last epoch they "
                "reached"
            )
    if untried:
        clauses.append(f"{_and([compact(value) for value in untried])} never tried")
    text = "; ".join(clauses)
    if worst:
        action = f"drop {_and([compact(value) for value in worst])}"
        return Advice(action, f"{text}: {action}.", changes=True)
    if trailing or never:
        return Advice("keep all", f"{text}: none is clearly the worst; keep them all.")
    return Advice("keep all", f"{text}: keep them all." if text else "no trials: keep it.")


def range_advice(dim: Dimension, compared: Compared, mode: Mode) -> Advice:
    """Where the best quarter of the trials lies in a numeric range, and what to do with the
    range: narrow it around that region (with the margin coarse-to-fine's fine phase gives it)
    when the region covers less than half of it, widen it past an end the region touches, or
    keep it.

    Widths are measured on the search scale (log10 for log-scale ranges); the learning rate's
    range is that of the optimizers its best trials used.
    """
    present = [(trial, score) for trial, score in compared if dim.name in trial.hparams]
    if len(present) < MIN_FOR_A_REGION:
        return Advice(
            "keep the range",
            f"{_trials(len(present))}: too few to place a good region; keep the range.",
        )
    ranked = sorted(present, key=lambda pair: to_loss(pair[1], mode))
    top = ranked[: max(2, math.ceil(len(present) / GOOD_SHARE))]
    values = [trial.hparams[dim.name] for trial, _ in top]
    low, high = min(values), max(values)
    range_low, range_high, whose = _searched_range(dim, [trial for trial, _ in top], present)
    scale = " (log scale" + (f", {whose}" if whose else "") + ")" if is_log(dim) else ""
    shown_low, shown_high = _ends(low, high)
    region = (
        f"all took {shown_low}, of" if low == high else f"lies in [{shown_low}, {shown_high}] of"
    )
    range_ends = _ends(range_low, range_high)
    where = (
        f"the best quarter ({len(top)} of {len(present)} trials) {region} "
        f"[{range_ends[0]}, {range_ends[1]}]{scale}"
    )
    start, end = on_search_scale(dim, range_low), on_search_scale(dim, range_high)
    span = end - start
    if span <= 0:
        return Advice("keep the range", f"{where}: keep it.")
    share = (on_search_scale(dim, high) - on_search_scale(dim, low)) / span
    at_low = on_search_scale(dim, low) - start <= EDGE * span
    at_high = end - on_search_scale(dim, high) <= EDGE * span
    if share >= NARROW_BELOW:
        return Advice("keep the range", f"{where}: spread over most of the range; keep it.")
    if at_high and not at_low:
        action = f"widen above {range_ends[1]}"
        text = f"{where}, at its upper end, so the best may lie beyond: {action}."
        return Advice(action, text, True)
    if at_low and not at_high and _extends_down(dim, range_low):
        action = f"widen below {range_ends[0]}"
        text = f"{where}, at its lower end, so the best may lie beyond: {action}."
        return Advice(action, text, True)
    # Around the region with a margin, as coarse-to-fine's fine phase would search it.
    action = "narrow to [{}, {}]".format(*_ends(*fine_range(dim, values, range_low, range_high)))
    return Advice(action, f"{where}: {action}.", True)


def _ends(low: Any, high: Any) -> tuple[str, str]:
    """The two ends of a range, both in 1e-3 style where either is (never ``[1e-4, 0.01]``)."""
    ends = (compact(low), compact(high))
    if any("e" in end for end in ends) and not any(isinstance(v, int) for v in (low, high)):
        return compact(low, exponent=True), compact(high, exponent=True)
    return ends


def _worst_showing(
    value: Any,
    scores: dict[Any, list[float]],
    stopped: dict[Any, list[TrialRecord]],
    mode: Mode,
    epoch: int | None,
) -> str:
    """``1 (3 trials, best 0.653 by epoch 2)``: a value, its trials and the best any of them
    did, at ``epoch`` where one reached it, else by the last epoch one reached."""
    mine, ended = scores.get(value, []), stopped.get(value, [])
    if mine:
        best = f"best {compact(_best(mine, mode))}" + (f" at epoch {epoch}" if epoch else "")
    else:
        first = min(ended, key=lambda trial: to_loss(float(trial.best or 0), mode))
        best = f"best {compact(first.best)} by epoch {first.epochs}"
    return f"{compact(value)} ({_trials(len(mine) + len(ended))}, {best})"


def _standings(compared: Compared, behind: Standings, mode: Mode) -> dict[int, float]:
    """Each trial's standing (by ``id``): where it stopped for ``behind``; among the compared
    trials, the share of the others that scored better."""
    standing = {id(trial): share for trial, share in behind}
    for trial, score in compared:
        better = sum(to_loss(other, mode) < to_loss(score, mode) for _, other in compared)
        standing[id(trial)] = better / max(1, len(compared) - 1)
    return standing


def _has(trial: TrialRecord, name: str, value: Any) -> bool:
    return name in trial.hparams and trial.hparams[name] == value


def _searched_range(
    dim: Dimension, top: list[TrialRecord], present: Compared
) -> tuple[float, float, str]:
    """The range ``dim`` was searched over, and (for the learning rate, whose range depends on
    the optimizer) whose ranges make it up: those of the optimizers the best trials used."""
    if dim.lr_ranges:
        used = list(dict.fromkeys(trial.hparams.get(OPTIMIZER) for trial in top))
        ranges = [(name, lo, hi) for name, lo, hi in dim.lr_ranges if name in used]
        ranges = ranges or list(dim.lr_ranges)
        names = [name for name, _, _ in ranges]
        whose = f"{_and(names)}'s range" if len(names) == 1 else f"the ranges of {_and(names)}"
        return min(lo for _, lo, _ in ranges), max(hi for _, _, hi in ranges), whose
    if dim.low is not None and dim.high is not None:
        return dim.low, dim.high, ""
    tried = [trial.hparams[dim.name] for trial, _ in present]
    return min(tried), max(tried), ""


def _extends_down(dim: Dimension, low: float) -> bool:
    """Whether a range can go below ``low``: not below 0 (a rate, a probability), nor below 1
    for a count."""
    return low > (1 if dim.kind in ("int", "pow2") else 0)


_ABSENT = object()


def _bar(scores: list[float], mode: Mode) -> float:
    """The score a trial needs to be among the best quarter of ``scores``."""
    ranked = sorted(scores, key=lambda score: to_loss(score, mode))
    return ranked[max(1, math.ceil(len(ranked) / GOOD_SHARE)) - 1] if ranked else math.nan


def _reaches(score: float, bar: float, mode: Mode) -> bool:
    return to_loss(score, mode) <= to_loss(bar, mode)


def _best(scores: list[float], mode: Mode) -> float:
    return min(scores, key=lambda score: to_loss(score, mode))


def _value_scores(value: Any, scores: list[float], mode: Mode) -> str:
    """``5 (best 0.99, mean 0.98 of 7 trials)``, or ``7 (0.98, 1 trial)``."""
    best = compact(_best(scores, mode))
    if len(scores) == 1:
        return f"{compact(value)} ({best}, 1 trial)"
    mean = compact(sum(scores) / len(scores))
    return f"{compact(value)} (best {best}, mean {mean} of {len(scores)} trials)"


def _trials(count: int) -> str:
    return f"{count} trial{'' if count == 1 else 's'}"


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"
