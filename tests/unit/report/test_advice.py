"""What to do with each hyperparameter, from fake trials (no Ray): for a choice, the values
that do well and the worst to drop (counting where trials stopped early stood); for a range,
where its best quarter lies and whether to narrow, widen or keep it."""

from __future__ import annotations

import math
from typing import Any

from raytune_hp.report import TrialRecord
from raytune_hp.report.advice import advise, choice_advice, range_advice, worst_values
from raytune_hp.report.importance import comparable_scores
from raytune_hp.spaces import resolve_space


def _trial(number: int, curve: list[float], status: str = "", **hparams: Any) -> TrialRecord:
    """A trial with a val_acc per epoch: ``completed`` at 9 epochs, else stopped early."""
    points = tuple(enumerate(curve, start=1))
    status = status or ("completed" if len(curve) == 9 else "stopped early")
    name = f"{number:03d}"
    best, last = max(curve), curve[-1]
    return TrialRecord(
        name, status, hparams, best, len(curve), curve=points, number=number, last=last
    )


def test_choice_advice_names_the_values_that_do_well_and_drops_the_worst() -> None:
    kernel = resolve_space("cnn")["kernel_size"]
    scores = {3: [0.99, 0.97, 0.96], 5: [0.99, 0.985], 7: [0.98, 0.95], 1: [0.90, 0.91, 0.93]}
    compared = [
        (_trial(10 * size + i, [score] * 9, kernel_size=size), score)
        for size, values in scores.items()
        for i, score in enumerate(values)
    ]
    advice = choice_advice(kernel, compared, "max", epoch=9)
    assert advice.action == "drop 1" and advice.changes
    assert advice.text.startswith(
        "3 (best 0.99, mean 0.973 of 3 trials) and 5 (best 0.99, mean 0.988 of 2 trials) do well; "
        "7 (best 0.98, mean 0.965 of 2 trials) trails; "
        "1 (3 trials, best 0.93 at epoch 9) is the worst: its trials were all in the bottom "
        "quarter at the last epoch they reached: drop 1."
    )


def test_a_value_whose_trials_all_stopped_early_at_the_bottom_is_dropped() -> None:
    optimizer = resolve_space("cnn")["optimizer"]
    finished = [_trial(n, [0.9] * 9, optimizer="adam") for n in range(1, 5)]
    # sgd's two trials were the worst at epoch 2; adagrad's one trial too, but one is too few.
    early = [_trial(n, [0.2, 0.3], optimizer="sgd") for n in (5, 6)]
    early += [_trial(7, [0.1, 0.2], optimizer="adagrad")]
    early += [_trial(n, [0.5, 0.8], optimizer="nadam") for n in (8, 9)]  # stopped, not worst
    compared = comparable_scores([*finished, *early], "max")
    advice = choice_advice(optimizer, compared.trials, "max", compared.behind, compared.epoch)
    assert advice.action == "drop sgd"
    assert "adam (best 0.9, mean 0.9 of 4 trials) does well" in advice.text
    assert "adagrad (1 trial) and nadam (2 trials) never reached epoch 9" in advice.text
    assert "sgd (2 trials, best 0.3 by epoch 2) is the worst" in advice.text
    assert "; momentum, adadelta, rmsprop and adamw never tried: drop sgd." in advice.text


def test_one_trial_is_too_few_to_drop_a_value() -> None:
    kernel = resolve_space("cnn")["kernel_size"]
    compared = [(_trial(n, [s] * 9, kernel_size=k), s) for n, k, s in [(1, 3, 0.99), (2, 1, 0.5)]]
    advice = choice_advice(kernel, compared, "max", epoch=9)
    assert advice.action == "keep all" and not advice.changes
    assert advice.text.endswith("none is clearly the worst; keep them all.")


def test_a_trial_counts_against_one_value_only() -> None:
    # Three trials with kernel size 1 failed; two of them used adam, which also failed twice
    # with kernel size 3, where a trial with adamw did well.
    space = resolve_space("cnn")
    kernel, optimizer = space["kernel_size"], space["optimizer"]
    good = [(0.95 + i / 300, "adamw", 5) for i in range(11)] + [(0.95, "adamw", 3)]
    bad = [(0.30, "adam", 1), (0.31, "nadam", 1), (0.32, "nadam", 1)]
    bad += [(0.60, "adam", 3), (0.61, "adam", 3)]
    compared = [
        (_trial(n, [score] * 9, optimizer=name, kernel_size=size), score)
        for n, (score, name, size) in enumerate(good + bad, start=1)
    ]
    dropped = worst_values([kernel, optimizer], compared, "max")
    # Kernel size 1 explains nadam's trials; adam's other two failed on their own.
    assert dropped == {("kernel_size", 1): [], ("optimizer", "adam"): [("kernel_size", 1)]}
    advice = advise([optimizer, kernel], compared, "max", epoch=9)
    assert advice["optimizer"].action == "drop adam"
    assert (
        "adam (3 trials, best 0.61 at epoch 9) is among the worst: its trials without "
        "kernel_size 1 were all in the bottom quarter"
    ) in advice["optimizer"].text
    assert "nadam (best 0.32, mean 0.315 of 2 trials) trails" in advice["optimizer"].text
    assert advice["kernel_size"].action == "drop 1"


def _lr_trials(lrs: list[float], best: float) -> list[tuple[TrialRecord, float]]:
    """Trials whose score falls off with the distance of log10(lr) from ``best``."""
    return [
        (_trial(n, [s] * 9, optimizer="adam", lr=lr), s)
        for n, lr in enumerate(lrs, start=1)
        for s in [0.99 - 0.1 * (math.log10(lr) - math.log10(best)) ** 2]
    ]


def test_range_advice_narrows_to_where_the_best_quarter_lies() -> None:
    lr = resolve_space("cnn", {"optimizer": ["adam"]})["lr"]
    lrs = [10 ** (-3 + k / 11) for k in range(12)]  # log-uniform over adam's [1e-3, 1e-2]
    advice = range_advice(lr, _lr_trials(lrs, best=3e-3), "max")
    assert advice.text == (
        "the best quarter (3 of 12 trials) lies in [2.31e-3, 3.51e-3] of [1e-3, 1e-2] "
        "(log scale, adam's range): narrow to [1.3e-3, 6.24e-3]."
    )  # with a margin of a quarter of the range (on its log scale), as coarse-to-fine searches
    assert advice.changes


def test_range_advice_keeps_a_range_whose_good_trials_spread_over_it() -> None:
    dropout = resolve_space("cnn")["dropout"]
    scores = [0.9, 0.8, 0.7, 0.6, 0.95, 0.85, 0.75, 0.65]
    values = [0.0, 0.05, 0.1, 0.15, 0.5, 0.45, 0.4, 0.35]  # the best at both ends
    pairs = enumerate(zip(values, scores, strict=True))
    compared = [(_trial(n, [s] * 9, dropout=v), s) for n, (v, s) in pairs]
    advice = range_advice(dropout, compared, "max")
    assert advice.action == "keep the range" and not advice.changes
    assert advice.text.endswith("[0, 0.5]: spread over most of the range; keep it.")


def test_range_advice_widens_a_range_whose_best_trials_sit_at_its_end() -> None:
    lr = resolve_space("cnn", {"optimizer": ["adam"]})["lr"]
    lrs = [10 ** (-3 + k / 11) for k in range(12)]
    advice = range_advice(lr, _lr_trials(lrs, best=3e-2), "max")  # best beyond 1e-2
    assert advice.action == "widen above 1e-2" and advice.changes
    assert "at its upper end, so the best may lie beyond: widen above 1e-2." in advice.text
    # A rate cannot go below 0: best trials at dropout 0 narrow the range instead.
    dropout = resolve_space("cnn")["dropout"]
    values = [0.0, 0.01, 0.02, 0.1, 0.2, 0.3, 0.4, 0.5]
    compared = [(_trial(n, [1 - v] * 9, dropout=v), 1 - v) for n, v in enumerate(values)]
    assert range_advice(dropout, compared, "max").action == "narrow to [0, 0.135]"
