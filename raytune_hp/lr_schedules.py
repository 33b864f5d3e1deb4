"""Learning-rate schedules as pure functions of the step, wrapped in ``LambdaLR`` only at the edge.

Two conventions run through the module. ``step`` (``k``) is the 1-based index of the optimizer
step: the lr used by the first ``optimizer.step()`` is the value at ``k = 1``. ``total`` is the
number of optimizer steps in the whole run (max epochs × steps per epoch). Everything except
:func:`build_scheduler` is plain arithmetic, so it can be checked, plotted and tested without
torch (shared design §2, "Learning-rate schedules" and "Tricks").

Example:
    >>> round(noam_lr(4000, d_model=512, warmup=4000), 8)
    0.00069877
    >>> bert_lr(60, base_lr=1.0, warmup=10, total=110)
    0.5
    >>> cosine(50, 100)
    0.5
    >>> step_decay(60, 100)
    0.1
    >>> multiplier({"lr": 1e-3, "schedule": "noam", "warmup_steps": 100}, 100, 1000)
    1.0
    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = build_scheduler(opt, {"lr": 0.1, "warmup_ratio": 0.1}, total=100)
    >>> round(opt.param_groups[0]["lr"], 6)  # the lr the first step uses: 0.1 · 1/10
    0.01
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from raytune_hp.spaces import SCHEDULES  # the schedule table's choices
from raytune_hp.values import is_number

__all__ = [
    "SCHEDULES",
    "bert_lr",
    "build_scheduler",
    "cosine",
    "linear_warmup",
    "multiplier",
    "noam_lr",
    "step_decay",
]


def noam_lr(step: int, d_model: int, warmup: int) -> float:
    """The Transformer schedule (Vaswani et al. 2017): ``d_model^-0.5 · min(step^-0.5,
    step · warmup^-1.5)``.

    It rises linearly for ``warmup`` steps, peaks at ``step == warmup`` with
    ``(d_model · warmup)^-0.5``, then decays as ``1/sqrt(step)``.

    Args:
        step: 1-based optimizer step; 0 gives 0.0, the limit of the linear part.
        d_model: the model width; it only scales the curve.
        warmup: steps of linear warmup, at least 1.

    Returns:
        The learning rate at ``step``.

    Example:
        >>> peak = noam_lr(4000, 512, 4000)
        >>> round(noam_lr(2000, 512, 4000) / peak, 9), round(noam_lr(16000, 512, 4000) / peak, 9)
        (0.5, 0.5)
    """
    _check_step("noam_lr", step)
    if d_model <= 0:
        raise ValueError(f"noam_lr: d_model must be > 0; got {d_model!r}")
    if warmup < 1:
        raise ValueError(f"noam_lr: warmup must be ≥ 1; got {warmup!r}")
    if step == 0:
        return 0.0
    return float(d_model**-0.5 * min(step**-0.5, step * warmup**-1.5))


def bert_lr(
    step: int,
    base_lr: float,
    warmup: int,
    total: int,
    power: float = 1.0,
    end_lr: float = 0.0,
) -> float:
    """BERT's schedule: linear warmup to ``base_lr``, then polynomial decay to ``end_lr``.

    The decay runs over the ``total - warmup`` steps after warmup with exponent ``power`` and
    the two parts are blended as ``(1 - is_warmup) · decayed + is_warmup · warmup_lr``, where
    ``is_warmup`` is 1.0 while ``step < warmup``. After ``total`` the rate stays at ``end_lr``;
    a warmup as long as the run leaves no decay, so the rate drops to ``end_lr`` at ``warmup``.

    Args:
        step: 1-based optimizer step (0 allowed).
        base_lr: the peak, reached at ``step == warmup``.
        warmup: steps of linear warmup (0 for none).
        total: optimizer steps in the run.
        power: exponent of the decay; 1.0 is linear, above 1 decays faster at first.
        end_lr: the rate at and after ``total``.

    Returns:
        The learning rate at ``step``.

    Example:
        >>> [bert_lr(k, 1.0, warmup=10, total=110) for k in (5, 10, 60, 110)]
        [0.5, 1.0, 0.5, 0.0]
    """
    _check_step("bert_lr", step)
    if warmup < 0:
        raise ValueError(f"bert_lr: warmup must be ≥ 0; got {warmup!r}")
    _check_total("bert_lr", total)
    if power <= 0:
        raise ValueError(f"bert_lr: power must be > 0; got {power!r}")
    warmup_lr = base_lr * step / warmup if warmup > 0 else base_lr
    is_warmup = 1.0 if step < warmup else 0.0
    decay_steps = total - warmup
    if decay_steps > 0:
        # Clamped at 0 during warmup, where the decayed part is weighted out anyway.
        progress = min(max(step - warmup, 0), decay_steps) / decay_steps
        decayed = (base_lr - end_lr) * (1.0 - progress) ** power + end_lr
    else:
        decayed = end_lr
    return (1.0 - is_warmup) * decayed + is_warmup * warmup_lr


def cosine(step: int, total: int) -> float:
    """Cosine annealing multiplier ``0.5 · (1 + cos(π · min(step, total) / total))``.

    Args:
        step: 1-based optimizer step (0 allowed).
        total: optimizer steps in the run.

    Returns:
        1.0 at step 0, 0.5 halfway, 0.0 at and after ``total``.

    Example:
        >>> cosine(0, 100), cosine(100, 100)
        (1.0, 0.0)
    """
    _check_step("cosine", step)
    _check_total("cosine", total)
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def step_decay(
    step: int,
    total: int,
    gamma: float = 0.1,
    milestones: Sequence[float] = (0.5, 0.75),
) -> float:
    """Step decay multiplier ``gamma^n``, ``n`` the milestones (fractions of ``total``) passed.

    A milestone ``m`` is passed once ``step > m · total``: with ``total = 100`` steps 1–50 run
    at 1.0, steps 51–75 at ``gamma`` and steps 76–100 at ``gamma²``, as ``MultiStepLR`` does
    with milestones at 50 and 75 completed steps.

    Args:
        step: 1-based optimizer step (0 allowed).
        total: optimizer steps in the run.
        gamma: factor applied at each milestone.
        milestones: fractions of ``total``, each in ``[0, 1]``.

    Returns:
        The multiplier at ``step``.

    Example:
        >>> step_decay(50, 100), step_decay(51, 100)
        (1.0, 0.1)
    """
    _check_step("step_decay", step)
    _check_total("step_decay", total)
    if any(not 0 <= m <= 1 for m in milestones):
        raise ValueError(
            f"step_decay: milestones must be fractions of total in [0, 1]; got {milestones!r}"
        )
    passed = sum(1 for m in milestones if step > m * total)
    return float(gamma**passed)


def linear_warmup(step: int, warmup: int) -> float:
    """Linear warmup multiplier ``min(1, step / warmup)``; 1.0 throughout when ``warmup == 0``.

    Args:
        step: 1-based optimizer step (0 allowed); the first step runs at ``1 / warmup``.
        warmup: steps of warmup (0 for none).

    Returns:
        The multiplier at ``step``.

    Example:
        >>> linear_warmup(5, 10), linear_warmup(20, 10), linear_warmup(1, 0)
        (0.5, 1.0, 1.0)
    """
    _check_step("linear_warmup", step)
    if warmup < 0:
        raise ValueError(f"linear_warmup: warmup must be ≥ 0; got {warmup!r}")
    if warmup == 0:
        return 1.0
    return min(1.0, step / warmup)


def multiplier(hp: Mapping[str, Any], step: int, total: int) -> float:
    """The factor applied to the trial's base lr ``hp["lr"]`` at optimizer step ``step``.

    The schedule is ``hp.get("schedule", "constant")``, one of :data:`SCHEDULES`:

    - ``constant``, ``step``, ``cosine``: 1, :func:`step_decay`, :func:`cosine`, each times
      :func:`linear_warmup` over ``round(hp["warmup_ratio"] · total)`` steps when the trick
      ``warmup_ratio`` is set;
    - ``noam``: the Noam shape scaled so that its peak, at ``step == hp["warmup_steps"]``, is
      exactly 1 (``d_model`` cancels, so ``hp["d_model"]`` is optional);
    - ``bert``: :func:`bert_lr` with ``hp["lr"]``, ``hp["warmup_steps"]``, ``hp["power"]``
      (default 1.0) and ``hp["end_lr"]`` (default 0.0), divided by ``hp["lr"]``.

    Args:
        hp: the trial's hyperparameters.
        step: 1-based optimizer step.
        total: optimizer steps in the run.

    Returns:
        The multiplier of the base lr at ``step``.

    Raises:
        ValueError: an unknown schedule, or a hyperparameter the schedule needs is missing or
            out of range.

    Example:
        >>> multiplier({"lr": 0.1, "schedule": "cosine"}, 50, 100)
        0.5
    """
    name = hp.get("schedule", "constant")
    if name not in SCHEDULES:
        valid = ", ".join(repr(s) for s in SCHEDULES)
        raise ValueError(f"schedule must be one of {valid}; got {name!r}")
    if name == "noam":
        w = _warmup_steps(hp, name)
        d_model = hp.get("d_model", 1)
        return noam_lr(step, d_model, w) / noam_lr(w, d_model, w)
    if name == "bert":
        lr: Any = hp.get("lr")
        if not is_number(lr) or lr <= 0:
            raise ValueError(f"lr must be a number > 0 for schedule 'bert'; got {lr!r}")
        power = hp.get("power", 1.0)
        end_lr = hp.get("end_lr", 0.0)
        return bert_lr(step, lr, _warmup_steps(hp, name), total, power, end_lr) / lr

    ratio = hp.get("warmup_ratio", 0.0)
    if not is_number(ratio) or not 0 <= ratio <= 1:
        raise ValueError(f"warmup_ratio must be a number in [0, 1]; got {ratio!r}")
    warm = linear_warmup(step, round(ratio * total))
    if name == "step":
        return warm * step_decay(step, total)
    if name == "cosine":
        return warm * cosine(step, total)
    return warm


def build_scheduler(
    optimizer: torch.optim.Optimizer, hp: Mapping[str, Any], total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Wraps :func:`multiplier` in a ``LambdaLR`` to be stepped after every optimizer step.

    ``LambdaLR`` evaluates its function at index 0 when constructed and at ``i`` after the
    ``i``-th ``scheduler.step()``; the lr set at index ``i`` is the one optimizer step ``i + 1``
    uses, hence ``k = i + 1``. The base lr is the optimizer's own (``hp["lr"]`` when the optimizer
    was built from the same hyperparameters).

    Args:
        optimizer: the trial's optimizer, at its base lr.
        hp: the trial's hyperparameters (see :func:`multiplier`).
        total: optimizer steps in the run.

    Returns:
        The scheduler; call ``scheduler.step()`` right after each ``optimizer.step()``.

    Raises:
        ValueError: as :func:`multiplier`, at construction.

    Example:
        >>> import torch
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = build_scheduler(opt, {"lr": 1.0, "schedule": "noam", "warmup_steps": 4}, 8)
        >>> opt.param_groups[0]["lr"]
        0.25
    """
    hp = dict(hp)
    _check_total("build_scheduler", total)

    def factor(i: int) -> float:
        return multiplier(hp, i + 1, total)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _check_step(where: str, step: int) -> None:
    if step < 0:
        raise ValueError(f"{where}: step must be ≥ 0 (optimizer steps count from 1); got {step!r}")


def _check_total(where: str, total: int) -> None:
    if total < 1:
        raise ValueError(f"{where}: total must be ≥ 1 optimizer step; got {total!r}")


def _warmup_steps(hp: Mapping[str, Any], schedule: str) -> int:
    w: Any = hp.get("warmup_steps")
    least = 1 if schedule == "noam" else 0
    if not is_number(w) or not float(w).is_integer() or w < least:
        raise ValueError(
            f"warmup_steps must be an integer ≥ {least} for schedule {schedule!r}; got {w!r}"
        )
    return int(w)
