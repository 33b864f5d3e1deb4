"""Learning-rate schedules at warmup, peak and end, against hand-computed values; and their
``LambdaLR`` wrapper driving a real optimizer."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from raytune_hp.lr_schedules import (
    SCHEDULES,
    bert_lr,
    build_scheduler,
    cosine,
    linear_warmup,
    multiplier,
    noam_lr,
    step_decay,
)

approx = pytest.approx

# --- Noam --------------------------------------------------------------------------------------


def test_noam_matches_the_formula_by_hand_for_d512_warmup4000() -> None:
    # 512^-0.5 = 0.044194173824159, 4000^-1.5 = 3.952847075210474e-06, 4000^-0.5 = 0.0158113883
    assert noam_lr(1, 512, 4000) == approx(0.044194173824159 * 3.952847075210474e-06, rel=1e-12)
    assert noam_lr(1, 512, 4000) == approx(1.746928107421711e-07, rel=1e-12)
    assert noam_lr(4000, 512, 4000) == approx(0.044194173824159 * 0.0158113883008419, rel=1e-12)
    assert noam_lr(4000, 512, 4000) == approx(6.987712429686843e-04, rel=1e-12)
    # After the peak: 512^-0.5 · 10000^-0.5 = 0.044194173824159 / 100.
    assert noam_lr(10000, 512, 4000) == approx(4.4194173824159e-04, rel=1e-12)


def test_noam_rises_linearly_during_warmup() -> None:
    peak = 1 / math.sqrt(512 * 4000)
    assert noam_lr(0, 512, 4000) == 0.0
    assert noam_lr(1, 512, 4000) == approx(peak / 4000, rel=1e-12)
    assert noam_lr(1000, 512, 4000) == approx(peak / 4, rel=1e-12)
    assert noam_lr(2000, 512, 4000) == approx(peak / 2, rel=1e-12)
    assert noam_lr(3000, 512, 4000) == approx(peak * 3 / 4, rel=1e-12)


def test_noam_peaks_exactly_at_warmup() -> None:
    peak = noam_lr(4000, 512, 4000)
    assert peak == approx(512**-0.5 * 4000**-0.5, rel=1e-12)
    assert noam_lr(3999, 512, 4000) < peak
    assert noam_lr(4001, 512, 4000) < peak


def test_noam_decays_as_inverse_square_root_after_warmup() -> None:
    peak = 1 / math.sqrt(512 * 4000)
    assert noam_lr(16000, 512, 4000) == approx(peak / 2, rel=1e-12)
    assert noam_lr(36000, 512, 4000) == approx(peak / 3, rel=1e-12)
    assert noam_lr(400000, 512, 4000) == approx(peak / 10, rel=1e-12)


def test_noam_d_model_only_scales() -> None:
    assert noam_lr(100, 64, 100) == approx(1 / math.sqrt(64 * 100), rel=1e-12)
    assert noam_lr(100, 64, 100) == approx(2 * noam_lr(100, 256, 100), rel=1e-12)


# --- BERT --------------------------------------------------------------------------------------


def test_bert_is_linear_during_warmup() -> None:
    assert bert_lr(0, 1.0, warmup=10, total=110) == 0.0
    assert bert_lr(1, 1.0, warmup=10, total=110) == approx(0.1)
    assert bert_lr(5, 1.0, warmup=10, total=110) == approx(0.5)
    assert bert_lr(9, 1.0, warmup=10, total=110) == approx(0.9)
    assert bert_lr(5, 2e-5, warmup=10, total=110) == approx(1e-5)


def test_bert_equals_base_lr_at_warmup() -> None:
    assert bert_lr(10, 1.0, warmup=10, total=110) == approx(1.0)
    assert bert_lr(10, 3e-4, warmup=10, total=110, power=2.0, end_lr=1e-5) == approx(3e-4)


def test_bert_decays_linearly_with_power_one() -> None:
    assert bert_lr(35, 1.0, warmup=10, total=110) == approx(0.75)
    assert bert_lr(60, 1.0, warmup=10, total=110) == approx(0.5)
    assert bert_lr(85, 1.0, warmup=10, total=110) == approx(0.25)


def test_bert_reaches_end_lr_at_total_and_stays() -> None:
    assert bert_lr(110, 1.0, warmup=10, total=110) == 0.0
    assert bert_lr(500, 1.0, warmup=10, total=110) == 0.0


def test_bert_respects_end_lr() -> None:
    assert bert_lr(60, 1.0, warmup=10, total=110, end_lr=0.1) == approx(0.55)
    assert bert_lr(110, 1.0, warmup=10, total=110, end_lr=0.1) == approx(0.1)
    assert bert_lr(300, 1.0, warmup=10, total=110, end_lr=0.1) == approx(0.1)
    assert bert_lr(5, 1.0, warmup=10, total=110, end_lr=0.1) == approx(0.5)  # warmup from 0


def test_bert_power_two_lies_below_linear() -> None:
    assert bert_lr(35, 1.0, warmup=10, total=110, power=2.0) == approx(0.5625)
    assert bert_lr(60, 1.0, warmup=10, total=110, power=2.0) == approx(0.25)
    for k in range(11, 110):
        quadratic = bert_lr(k, 1.0, warmup=10, total=110, power=2.0)
        assert quadratic < bert_lr(k, 1.0, warmup=10, total=110)


def test_bert_without_warmup_starts_decaying_at_once() -> None:
    assert bert_lr(0, 1.0, warmup=0, total=100) == approx(1.0)
    assert bert_lr(50, 1.0, warmup=0, total=100) == approx(0.5)


# --- cosine, step, warmup ----------------------------------------------------------------------


def test_cosine_start_middle_end() -> None:
    assert cosine(0, 100) == 1.0
    assert cosine(25, 100) == approx(0.8535533905932737)  # (1 + √2/2) / 2
    assert cosine(50, 100) == approx(0.5)
    assert cosine(75, 100) == approx(0.1464466094067262)
    assert cosine(100, 100) == approx(0.0, abs=1e-15)
    assert cosine(150, 100) == approx(0.0, abs=1e-15)


@pytest.mark.parametrize(
    ("step", "expected"),
    [(1, 1.0), (50, 1.0), (51, 0.1), (75, 0.1), (76, 0.01), (100, 0.01), (200, 0.01)],
)
def test_step_decay_around_milestones(step: int, expected: float) -> None:
    assert step_decay(step, 100) == approx(expected)


def test_step_decay_custom_gamma_and_milestones() -> None:
    assert step_decay(30, 100, gamma=0.5, milestones=(0.3,)) == 1.0
    assert step_decay(31, 100, gamma=0.5, milestones=(0.3,)) == 0.5


def test_linear_warmup() -> None:
    assert linear_warmup(0, 10) == 0.0
    assert linear_warmup(1, 10) == approx(0.1)
    assert linear_warmup(5, 10) == approx(0.5)
    assert linear_warmup(10, 10) == 1.0
    assert linear_warmup(50, 10) == 1.0
    assert linear_warmup(1, 0) == 1.0


# --- multiplier --------------------------------------------------------------------------------


def test_schedules_are_the_design_list() -> None:
    assert SCHEDULES == ("constant", "step", "cosine", "noam", "bert")


@pytest.mark.parametrize(
    ("step", "expected"), [(1, 0.01), (50, 0.5), (100, 1.0), (400, 0.5), (10000, 0.1)]
)
def test_multiplier_noam_peaks_at_exactly_one(step: int, expected: float) -> None:
    hp = {"lr": 1e-3, "schedule": "noam", "warmup_steps": 100, "d_model": 512}
    assert multiplier(hp, step, 20000) == approx(expected, rel=1e-12)


def test_multiplier_noam_peak_is_exactly_one_without_d_model() -> None:
    hp = {"lr": 1e-3, "schedule": "noam", "warmup_steps": 4000}
    assert multiplier(hp, 4000, 10**6) == 1.0
    assert multiplier(hp, 2000, 10**6) == approx(0.5, rel=1e-12)


def test_multiplier_bert_is_bert_lr_over_lr() -> None:
    hp: dict[str, Any] = {"lr": 0.01, "schedule": "bert", "warmup_steps": 10}
    assert multiplier(hp, 5, 110) == approx(0.5)
    assert multiplier(hp, 10, 110) == approx(1.0)
    assert multiplier(hp, 60, 110) == approx(0.5)
    assert multiplier(hp, 110, 110) == 0.0
    hp.update(end_lr=0.001, power=2.0)
    assert multiplier(hp, 60, 110) == approx(0.1 + 0.9 * 0.25)
    assert multiplier(hp, 110, 110) == approx(0.1)


def test_multiplier_defaults_to_constant() -> None:
    assert multiplier({"lr": 0.1}, 1, 100) == 1.0
    assert multiplier({"lr": 0.1}, 100, 100) == 1.0


def test_warmup_ratio_ramps_constant() -> None:
    hp = {"lr": 0.1, "schedule": "constant", "warmup_ratio": 0.1}  # 10 of 100 steps
    assert multiplier(hp, 1, 100) == approx(0.1)
    assert multiplier(hp, 5, 100) == approx(0.5)
    assert multiplier(hp, 10, 100) == 1.0
    assert multiplier(hp, 100, 100) == 1.0


def test_warmup_ratio_ramps_cosine() -> None:
    hp = {"lr": 0.1, "schedule": "cosine", "warmup_ratio": 0.1}
    assert multiplier(hp, 5, 100) == approx(0.5 * 0.9938441702975689)  # ½ · (1 + cos(π/20)) / 2
    assert multiplier(hp, 50, 100) == approx(0.5)
    assert multiplier(hp, 100, 100) == approx(0.0, abs=1e-15)


def test_warmup_ratio_ramps_step() -> None:
    hp = {"lr": 0.1, "schedule": "step", "warmup_ratio": 0.05}  # 5 of 100 steps
    assert multiplier(hp, 1, 100) == approx(0.2)
    assert multiplier(hp, 50, 100) == 1.0
    assert multiplier(hp, 76, 100) == approx(0.01)


def test_unknown_schedule_is_a_value_error_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"schedule must be one of 'constant', 'step', 'cosine', "):
        multiplier({"lr": 0.1, "schedule": "linear"}, 1, 100)
    with pytest.raises(ValueError, match=r"got 'linear'"):
        multiplier({"lr": 0.1, "schedule": "linear"}, 1, 100)


@pytest.mark.parametrize(
    ("hp", "message"),
    [
        ({"lr": 0.1, "schedule": "noam"}, r"warmup_steps must be an integer ≥ 1 .*got None"),
        ({"lr": 0.1, "schedule": "noam", "warmup_steps": 0}, r"≥ 1 for schedule 'noam'; got 0"),
        ({"lr": 0.1, "schedule": "bert", "warmup_steps": 2.5}, r"≥ 0 .*; got 2.5"),
        ({"lr": 0, "schedule": "bert", "warmup_steps": 10}, r"lr must be a number > 0"),
        ({"lr": 0.1, "warmup_ratio": 1.5}, r"warmup_ratio must be a number in \[0, 1\]; got 1.5"),
    ],
)
def test_bad_hyperparameters_are_value_errors(hp: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        multiplier(hp, 1, 100)


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"noam_lr: warmup must be ≥ 1; got 0"):
        noam_lr(1, 512, 0)
    with pytest.raises(ValueError, match=r"cosine: total must be ≥ 1 optimizer step; got 0"):
        cosine(1, 0)
    with pytest.raises(ValueError, match=r"step must be ≥ 0 .*; got -1"):
        linear_warmup(-1, 10)


# --- build_scheduler ---------------------------------------------------------------------------


def _run(hp: dict[str, Any], total: int) -> tuple[list[float], list[float]]:
    """Trains one parameter with gradient 1 under SGD: the lr each step used, measured from the
    parameter's change, and the lr the optimizer shows before each step."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=hp["lr"])
    scheduler = build_scheduler(optimizer, hp, total)
    used, shown = [], []
    for _ in range(total):
        shown.append(optimizer.param_groups[0]["lr"])
        before = param.item()
        param.grad = torch.ones(1)
        optimizer.step()
        scheduler.step()
        used.append(before - param.item())
    return used, shown


@pytest.mark.parametrize(
    ("hp", "multipliers"),
    [
        (  # warmup 4: k/4, then sqrt(4/k)
            {"lr": 0.5, "schedule": "noam", "warmup_steps": 4},
            [0.25, 0.5, 0.75, 1.0, math.sqrt(0.8), math.sqrt(4 / 6), math.sqrt(4 / 7), 1 / 2**0.5],
        ),
        (  # warmup 2, then linear decay over the remaining 6 steps
            {"lr": 0.5, "schedule": "bert", "warmup_steps": 2},
            [0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0],
        ),
        (  # round(0.25 · 8) = 2 steps of warmup on a constant
            {"lr": 0.5, "schedule": "constant", "warmup_ratio": 0.25},
            [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        ),
        (  # milestones after 4 and 6 steps
            {"lr": 0.5, "schedule": "step"},
            [1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01],
        ),
        (  # 0.5 · (1 + cos(π k / 8))
            {"lr": 0.5, "schedule": "cosine"},
            [
                0.9619397662556434,
                0.8535533905932737,
                0.6913417161825449,
                0.5,
                0.3086582838174551,
                0.1464466094067262,
                0.0380602337443566,
                0.0,
            ],
        ),
    ],
    ids=["noam", "bert", "constant-warmup", "step", "cosine"],
)
def test_scheduler_sets_lr_times_multiplier_of_k(
    hp: dict[str, Any], multipliers: list[float]
) -> None:
    used, shown = _run(hp, total=8)
    expected = [0.5 * m for m in multipliers]
    assert shown == approx(expected, abs=1e-7)
    assert used == approx(expected, abs=1e-6)  # float32 parameter


def test_first_step_uses_lr_times_multiplier_at_one() -> None:
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.2)
    build_scheduler(optimizer, {"lr": 0.2, "schedule": "noam", "warmup_steps": 10}, 100)
    assert optimizer.param_groups[0]["lr"] == approx(0.02)
    param.grad = torch.ones(1)
    optimizer.step()
    assert param.item() == approx(-0.02)


def test_scheduler_rejects_an_unknown_schedule_at_construction() -> None:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=r"schedule must be one of .*'bert'; got 'poly'"):
        build_scheduler(optimizer, {"lr": 0.1, "schedule": "poly"}, 100)
