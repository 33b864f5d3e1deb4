"""The smoke test the tables recommend before a search: train the recommended configuration
briefly at a few constant learning rates (1e-4, then 1e-3) and see whether each learns.

Every run starts from the same initialisation and sees the same batches, with a trial's own set-up
(:func:`raytune_hp.training.set_up_training`) at a constant lr: the test asks about the lr itself,
not the config's schedule. The lr range test runs it after its sweep.

Example:
    >>> from raytune_hp.config import load_config
    >>> from raytune_hp.data import load_data
    >>> config = load_config("configs/quickstart.yaml")
    >>> data = load_data("digits", 0.2, seed=0)
    >>> (test,) = smoke_test(config, data, lrs=[1e-3], steps=20, threads=1)
    >>> test.learns, round(test.loss_before, 2)
    (True, 2.31)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raytune_hp.diagnostics.recommended import (
    Builder,
    StopTraining,
    builder_for_checks,
    format_lr,
    objective_for_checks,
    recommended_configuration,
    torch_threads,
    train_until_stopped,
)
from raytune_hp.errors import RaytuneHPError
from raytune_hp.metrics import VAL_LOSS, Task
from raytune_hp.values import is_int

if TYPE_CHECKING:
    import torch

    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import Dataset, LoaderData
    from raytune_hp.training import LossFunction

SMOKE_TEST_LRS = (1e-4, 1e-3)  # the table's "start with a smoke test at 1e-4, then 1e-3"
SMOKE_TEST_STEPS = 50
LEARNS_MARGIN = 0.10  # "learns": the loss fell by at least 10 % of its starting value


@dataclass(frozen=True)
class SmokeTest:
    """A short run at one constant learning rate, from the recommended initialisation.

    ``loss_before`` and ``loss_after`` are the mean training loss on the training set (the
    task's loss or the user's, dropout off and without the step's tricks) before the first and
    after the last of ``steps`` optimizer steps.
    """

    lr: float
    steps: int
    loss_before: float
    loss_after: float
    learns: bool

    @property
    def change(self) -> float:
        """Relative change of the loss: -0.4 means it fell by 40 %."""
        return (self.loss_after - self.loss_before) / self.loss_before

    def describe(self) -> str:
        """One line, e.g. ``lr 0.001: loss 2.31 → 0.85 (-63 %), learns``."""
        verdict = "learns" if self.learns else f"not clearly learning (fell < {LEARNS_MARGIN:.0%})"
        if not math.isfinite(self.loss_after):
            verdict = "diverges"
        return (
            f"lr {format_lr(self.lr)}: loss {self.loss_before:.3g} → {self.loss_after:.3g} "
            f"({self.change:+.0%}) after {self.steps} steps, {verdict}"
        )


def _constant(step: int) -> float:
    """The smoke test's schedule: its lr at every step."""
    return 1.0


def smoke_test(
    config: ExperimentConfig,
    data: Dataset | LoaderData,
    *,
    lrs: Sequence[float] = SMOKE_TEST_LRS,
    steps: int = SMOKE_TEST_STEPS,
    builder: Builder | None = None,
    threads: int | None = None,
    task: Task | None = None,
    loss: LossFunction | None = None,
) -> tuple[SmokeTest, ...]:
    """Trains the recommended configuration briefly at each constant lr in ``lrs``.

    Every run starts from the same initialisation (``config.seed``) and sees the same batches.
    It *learns* when the training-set loss fell by at least 10 % of its starting value.

    Args:
        config: the experiment; its space gives the recommended configuration.
        data: the experiment's data set.
        lrs: the learning rates to try (the table's smoke test: 1e-4, then 1e-3).
        steps: optimizer steps per learning rate.
        builder: ``(hp, input_shape, num_outputs) -> nn.Module``; by default the config's
            ``model.builder`` or built-in model.
        threads: torch CPU threads; all available cores by default.
        task: ``classification`` or ``regression``; by default the config's, else
            classification (:func:`~raytune_hp.diagnostics.recommended.objective_for_checks`).
        loss: a user's ``loss(outputs, targets)`` in place of the task's; by default the
            config's, else none.

    Returns:
        One :class:`SmokeTest` per learning rate, in the order given.

    Raises:
        RaytuneHPError: ``steps`` < 1 or an lr that is not > 0.

    Example:
        >>> [t.learns for t in smoke_test(config, data)]  # doctest: +SKIP
        [False, True]
    """
    from raytune_hp.devices import place_data, select_device
    from raytune_hp.training import set_up_training

    if not is_int(steps) or steps < 1:
        raise RaytuneHPError(f"smoke test: steps must be an integer ≥ 1; got {steps!r}")
    if any(not lr > 0 for lr in lrs):
        raise RaytuneHPError(f"smoke test: every lr must be > 0; got {list(lrs)}")
    task, loss = objective_for_checks(config, task, loss)
    hp = recommended_configuration(config)
    build = builder_for_checks(config, builder)
    device = select_device()
    data = place_data(data, device)
    batch_size = int(hp["batch_size"])
    results = []
    with torch_threads(threads):
        for lr in lrs:
            # Constant lr: the smoke test asks about the lr itself, not the config's schedule
            # (a long warmup would make any lr look too small in a few steps).
            setup = set_up_training(
                hp,
                build,
                data.input_shape,
                data.num_outputs,
                seed=config.seed,
                device=device,
                total_steps=steps,
                lr=lr,
                schedule=_constant,
                task=task,
                loss=loss,
            )
            before = setup.evaluate(data, batch_size, part="train")[VAL_LOSS]
            done = 0

            def on_step(loss: torch.Tensor, step_lr: float) -> None:
                nonlocal done
                done += 1
                if done >= steps or not math.isfinite(float(loss)):
                    raise StopTraining

            train_until_stopped(setup, data, batch_size, on_step)
            after = setup.evaluate(data, batch_size, part="train")[VAL_LOSS]
            learns = math.isfinite(after) and after <= (1 - LEARNS_MARGIN) * before
            results.append(SmokeTest(float(lr), steps, before, after, learns))
    return tuple(results)
