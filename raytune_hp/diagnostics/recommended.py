"""What the checks before a search train: the config's recommended configuration, built by the
config's model builder, learning the config's task with its loss, on as many torch threads as
the machine gives them, for as many steps as the check wants.

The lr range test (:mod:`raytune_hp.diagnostics.lr_range_test`) and the batch-size study
(:mod:`raytune_hp.diagnostics.batch_size_study`) both start here.

Example:
    >>> from raytune_hp.config import load_config
    >>> config = load_config("configs/quickstart.yaml")
    >>> hp = recommended_configuration(config)
    >>> hp["optimizer"], hp["lr"], hp["batch_size"]
    ('adam', 0.001, 128)
    >>> with torch_threads(1) as count:
    ...     count
    1
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from raytune_hp.errors import ConfigError, RaytuneHPError
from raytune_hp.metrics import Task
from raytune_hp.models import Builder
from raytune_hp.spaces import start_point

if TYPE_CHECKING:
    import torch

    from raytune_hp.config import ExperimentConfig
    from raytune_hp.data import TrainingData
    from raytune_hp.training import LossFunction, TrainingSetup


def recommended_configuration(config: ExperimentConfig) -> dict[str, Any]:
    """The config's starting point: every table's *start from*, the lr at its range's low end
    (the tables' start, even where ``bayes`` starts its search mid-range under the priors)."""
    return start_point(config.search_space(), tables_lr=True)


def builder_for_checks(config: ExperimentConfig, builder: Builder | None) -> Builder:
    """``builder`` if given, else the config's ``model.builder``, else the built-in model.

    Raises:
        ConfigError: the config trains through ``train.function`` without a ``model.builder``.
    """
    if builder is not None:
        return builder
    if config.model.builder is None and config.train.function is not None:
        raise ConfigError(
            "model.builder must be given for lr-find and batch-study when train.function trains "
            "the model (they build the model themselves, and cannot see inside your function); "
            f"got train.function {config.train.function!r} and no model.builder"
        )
    from raytune_hp.user_code import UserCode

    built = UserCode.of(config).model_builder(config)
    assert built is not None  # only a training function builds its own model, refused above
    return built


def objective_for_checks(
    config: ExperimentConfig, task: Task | None, loss: LossFunction | None
) -> tuple[Task, LossFunction | None]:
    """``task`` and ``loss`` where given, else the config's ``train.task`` and ``train.loss``
    (an import path or a function), else classification with its cross-entropy.

    Raises:
        ConfigError: a ``train.loss`` path that does not resolve.
    """
    # getattr: train.task and train.loss are read where the config's schema declares them.
    chosen: Task = task if task is not None else getattr(config.train, "task", "classification")
    if loss is None:
        named = getattr(config.train, "loss", None)
        if isinstance(named, str):
            from raytune_hp.user_code import resolve

            named = resolve(named, "train.loss")
        loss = named
    return chosen, loss


def _available_cores() -> int:
    """CPU cores this process may run on (the container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Runs the block with ``threads`` torch threads (all available cores when ``None``) and
    restores the previous count: diagnostics run alone, unlike trials, which share the cores.

    Raises:
        RaytuneHPError: ``threads`` < 1.
    """
    import torch

    previous = torch.get_num_threads()
    count = _available_cores() if threads is None else threads
    if count < 1:
        raise RaytuneHPError(f"threads must be an integer ≥ 1; got {threads!r}")
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(previous)


class StopTraining(Exception):
    """Raised by an ``on_step`` callback to end :func:`train_until_stopped` mid-epoch."""


def train_until_stopped(
    setup: TrainingSetup,
    data: TrainingData,
    batch_size: int,
    on_step: Callable[[torch.Tensor, float], None],
) -> None:
    """Trains epoch after epoch over ``data`` (a trial's own loop) until ``on_step`` raises
    :class:`StopTraining`."""
    with contextlib.suppress(StopTraining):
        while True:
            setup.train_epoch(data, batch_size, on_step)


def format_lr(lr: float) -> str:
    """A learning rate as the checks print it: two significant digits."""
    return f"{lr:.2g}"
