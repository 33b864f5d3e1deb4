"""One trial: build model and optimizer from the trial's hyperparameters, train epoch by epoch,
report with a checkpoint. The loop (:func:`train`) runs without Ray; :func:`tune_trainable` is the
thin Ray Tune wrapper around it.

Example:
    >>> from raytune_hp.data import load_data
    >>> data = load_data("digits", 0.2, seed=0)
    >>> hp = {"optimizer": "adam", "lr": 1e-3, "batch_size": 128, "dropout": 0.5,
    ...       "weight_decay": 0.0, "kernel_size": 3, "num_kernels": 100, "num_layers": 1}
    >>> results = []
    >>> train(hp, data, TrialSettings("cnn", max_epochs=1, seed=0), "/tmp/t",
    ...       lambda metrics, state: results.append(metrics))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from raytune_hp.data import Dataset, LoaderData
from raytune_hp.devices import gpu_share, limit_gpu_memory, place_data, select_device
from raytune_hp.metrics import (
    CHECKPOINT_FALLBACK,
    COMPUTE_DTYPE,
    DEVICE,
    DIVERGED,
    EPOCH,
    GPU_IDS,
    GPU_SHARE,
    NODE_ID,
    NUM_PARAMS,
    OUT_OF_MEMORY,
    SKIPPED,
    TRAIN_LOSS,
    TRAIN_SAMPLES,
    VAL_ACC,
    WORST_LOSS,
    Task,
    worst,
)
from raytune_hp.models import count_parameters, model_builder
from raytune_hp.spaces import LR, flatten
from raytune_hp.tb_logger import HParamsLayout, TrialWriter
from raytune_hp.training import LossFunction, seed_everything, set_up_training
from raytune_hp.trial_state import restore, save_state
from raytune_hp.values import plain

_BEST = "raytune_hp_best"  # the trial's score so far, in its state: TensorBoard's best/<metric>

Report = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class TrialSettings:
    """What every trial of an experiment shares: the model, the epoch budget, the seed.

    ``model`` is a built-in model's name; ``builder`` a user's model builder and ``function`` a
    user's whole training function, both resolved from the config's import paths. A model with
    more trainable parameters than ``max_params`` is skipped before training. ``precision``
    ``bf16`` runs forward passes under bfloat16 autocast. ``gpu_share`` below 1 caps the trial
    to that share of its GPU's memory. ``task`` says what the built-in loop learns and reports
    (:class:`raytune_hp.training.Objective`); ``loss``, a user's ``loss(outputs, targets)``
    returning the batch's mean, replaces the task's loss in training and in ``val_loss``.
    ``metric`` is what the search optimizes: a training function must report it every epoch.
    ``tensorboard`` is how the experiment's hyperparameters and score appear in TensorBoard.
    """

    model: str
    max_epochs: int
    seed: int
    cpu_threads: int = 1
    builder: Callable[..., nn.Module] | None = None
    function: Callable[..., None] | None = None
    max_params: int | None = None
    precision: str = "fp32"
    gpu_share: float = 1.0
    task: Task = "classification"
    loss: LossFunction | None = None
    metric: str = VAL_ACC
    tensorboard: HParamsLayout | None = None


def train(
    hp: Mapping[str, Any],
    data: Dataset | LoaderData,
    settings: TrialSettings,
    log_dir: str | Path,
    report: Report,
    state: Mapping[str, Any] | None = None,
) -> None:
    """Trains one configuration for ``settings.max_epochs`` epochs, calling ``report`` after each.

    ``report(metrics, state)`` receives the epoch's metrics (the task's, the training loss,
    the lr, and the dtype the forward pass computed in) and everything needed to resume
    (``state`` passed back in continues from the next epoch). A trial whose loss is not finite
    reports ``diverged`` and ends itself. Tensor data is indexed in place (on the GPU when it
    fits); data read by DataLoaders is read at the trial's batch size, its loaders built once
    per process and batch size.
    """
    hp = flatten(hp)
    torch.set_num_threads(max(1, settings.cpu_threads))
    device = select_device()
    batch_size = int(hp["batch_size"])
    setup = set_up_training(
        hp,
        model_builder(settings.model, settings.builder),
        data.input_shape,
        data.num_outputs,
        seed=settings.seed,
        device=device,
        total_steps=settings.max_epochs * data.steps_per_epoch(batch_size),
        task=settings.task,
        loss=settings.loss,
    )
    # The worst value of every metric the task reports, for the records of a trial that did not
    # train: the searcher moves away from it.
    worst_metrics = {metric: worst(metric) for metric in setup.objective.metrics}
    first_epoch, step = 1, 0
    if state is not None:
        setup.model.load_state_dict(state["model"])
        setup.optimizer.load_state_dict(state["optimizer"])
        setup.scheduler.load_state_dict(state["scheduler"])
        setup.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])  # dropout masks continue where they left off
        if "cuda_rng" in state and device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        first_epoch, step = state["epoch"] + 1, state["step"]
    num_params = count_parameters(setup.model)
    if settings.max_params is not None and num_params > settings.max_params:
        # Recorded with the numbers, and as the worst result, so the searcher moves away.
        skipped = {EPOCH: 0, NUM_PARAMS: num_params, TRAIN_SAMPLES: data.train_size}
        report(worst_metrics | skipped | {SKIPPED: True, DIVERGED: False}, {})
        return
    memory_cap = limit_gpu_memory(settings.gpu_share, device)
    data = place_data(data, device, memory_cap)
    best = state.get(_BEST) if state is not None else None
    writer = TrialWriter(log_dir, hp, settings.tensorboard, best)
    steps: list[tuple[torch.Tensor, float]] = []

    def on_step(loss: torch.Tensor, lr: float) -> None:
        steps.append((loss, lr))

    epoch, out_of_memory = first_epoch, ""
    try:
        for epoch in range(first_epoch, settings.max_epochs + 1):
            train_loss, compute_dtype = setup.train_epoch(
                data, batch_size, on_step, settings.precision
            )
            # Every step's loss read from the device at once, after the epoch.
            losses = torch.stack([loss for loss, _ in steps]).float().tolist()
            for loss, (_, lr) in zip(losses, steps, strict=True):
                step += 1
                writer.train_step(step, loss, lr)
            steps.clear()
            validation = setup.evaluate(data, batch_size, precision=settings.precision)
            diverged = not all(math.isfinite(v) for v in (train_loss, *validation.values()))
            if diverged:
                # The worst finite result: the searcher learns this region is bad (HyperOpt
                # cannot order NaN).
                train_loss, validation = WORST_LOSS, worst_metrics
            metrics = {
                EPOCH: epoch,
                TRAIN_LOSS: train_loss,
                **validation,
                LR: setup.optimizer.param_groups[0]["lr"],
                NUM_PARAMS: num_params,
                TRAIN_SAMPLES: data.train_size,
                SKIPPED: False,
                DIVERGED: diverged,
                COMPUTE_DTYPE: str(compute_dtype),
            }
            writer.epoch(epoch, metrics)
            report(
                metrics,
                {
                    "model": setup.model.state_dict(),
                    "optimizer": setup.optimizer.state_dict(),
                    "scheduler": setup.scheduler.state_dict(),
                    "generator": setup.generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    **(
                        {"cuda_rng": torch.cuda.get_rng_state(device)}
                        if device.type == "cuda"
                        else {}
                    ),
                    "epoch": epoch,
                    "step": step,
                    _BEST: writer.best,
                },
            )
            if diverged:
                break
    except torch.cuda.OutOfMemoryError as error:
        # Only the message is kept: the exception's traceback holds the epoch's activations.
        out_of_memory = str(error).splitlines()[0] if str(error) else "out of memory"
    finally:
        writer.close()
    if out_of_memory:
        # This trial alone outgrew its memory (its share of a shared GPU, or the whole GPU):
        # its memory is handed back before the next trial reuses this process, and it is
        # recorded as the worst result, with the cap, so the searcher moves away.
        setup.optimizer.zero_grad(set_to_none=True)
        steps.clear()
        torch.cuda.empty_cache()
        if memory_cap is not None:
            limit = f"its {settings.gpu_share:g} share of the GPU ({memory_cap / 2**30:.1f} GiB)"
        else:
            limit = "the whole GPU" if device.type == "cuda" else "memory"
        failed = {EPOCH: epoch, **worst_metrics, NUM_PARAMS: num_params}
        oom = {OUT_OF_MEMORY: f"outgrew {limit} at batch_size {batch_size}: {out_of_memory}"}
        report(failed | oom | {TRAIN_SAMPLES: data.train_size, SKIPPED: False, DIVERGED: False}, {})


def tune_trainable(
    config: dict[str, Any], *, data: Dataset | LoaderData, settings: TrialSettings
) -> None:
    """The Ray Tune function trainable: :func:`train` with ``tune.report`` and checkpoints.

    ``data`` arrives through Ray's object store (``tune.with_parameters``), loaded once per
    experiment. The trial uses as many torch threads as CPUs Ray reserved for it, and where it
    holds a fraction of a GPU, that fraction of the GPU's memory. Every result also says where
    the trial ran: its node, the GPU ids Ray gave it, its torch device and its GPU share.
    """
    import ray
    from ray import tune

    context = tune.get_context()
    required = context.get_trial_resources().required_resources
    share = gpu_share(required.get("GPU", 0))
    placement = {
        NODE_ID: ray.get_runtime_context().get_node_id(),
        GPU_IDS: ",".join(str(gpu) for gpu in ray.get_gpu_ids()),
        DEVICE: str(select_device()),
        GPU_SHARE: share,
    }
    settings = dataclasses.replace(
        settings, cpu_threads=max(1, int(required.get("CPU", 1))), gpu_share=share
    )
    state, fallback = None, ""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # the newest one that reads, and a note when it was not the last
        state, fallback = restore(checkpoint)
    first = True

    def report(metrics: dict[str, Any], trial_state: dict[str, Any]) -> None:
        nonlocal first, fallback
        note = {CHECKPOINT_FALLBACK: fallback} if fallback else {}
        with tempfile.TemporaryDirectory() as folder:
            save_state(trial_state, folder, check=first)  # unrestorable: said at once
            checkpoint = tune.Checkpoint.from_directory(folder)
            tune.report(metrics | placement | note, checkpoint=checkpoint)
        first, fallback = False, ""

    # The trial's working folder is what Ray syncs to storage (sync_artifacts); get_trial_dir()
    # can be a driver-side staging folder that a worker on another node never uploads.
    log_dir = context.get_storage().trial_working_directory
    if settings.function is not None:
        run_function(settings.function, config, data, settings, log_dir, report, state)
    else:
        train(config, data, settings, log_dir, report, state)


def run_function(
    function: Callable[..., None],
    hp: Mapping[str, Any],
    data: Dataset | LoaderData,
    settings: TrialSettings,
    log_dir: str | Path,
    report: Report,
    state: Mapping[str, Any] | None = None,
) -> None:
    """Runs a user's whole training function with raytune-hp's reporting around it.

    The function is called as ``function(hp, data, report, max_epochs=..., state=...)`` and calls
    ``report(metrics, state=None)`` once per epoch; ``metrics`` must hold ``epoch`` and the
    metric the search optimizes (``settings.metric``), and may hold any other. Every report goes
    to TensorBoard and to Ray Tune (with ``state`` as the checkpoint), so ASHA, the searchers and
    the summary work as for a built-in model. A function that takes a ``devices`` keyword also
    gets the torch devices of every GPU Ray assigned to the trial (``cuda:0``, ``cuda:1``, ...:
    Ray makes exactly those visible; ``[cpu]`` without a GPU), for a trial of several GPUs.

    Raises:
        NeverReportedError: the function returned without reporting once (unless it resumed
            from a state: a trial whose epochs were all done has nothing left to report).
    """
    hp = flatten(hp)
    seed_everything(settings.seed)
    # The score so far rides in the trial's state beside the function's own, which gets its
    # state back without it.
    state = dict(state) if state is not None else None
    best = state.pop(_BEST, None) if state is not None else None
    writer = TrialWriter(log_dir, hp, settings.tensorboard, best)
    reports = 0

    def user_report(metrics: Mapping[str, Any], state: Mapping[str, Any] | None = None) -> None:
        nonlocal reports
        if EPOCH not in metrics or settings.metric not in metrics:
            raise ValueError(
                f"train.function's report(metrics) must include {EPOCH!r} and the searched "
                f"metric {settings.metric!r} (train.metric); got keys {sorted(metrics)}"
            )
        plain_metrics = {key: plain(value) for key, value in metrics.items()}
        epoch = int(plain_metrics[EPOCH])
        writer.epoch(epoch, plain_metrics)
        report(plain_metrics, {**(state or {}), _BEST: writer.best})
        reports += 1

    options: dict[str, Any] = {"max_epochs": settings.max_epochs, "state": state}
    if _takes(function, "devices"):
        count = torch.cuda.device_count()
        options["devices"] = [torch.device(f"cuda:{i}") for i in range(count)] or [
            torch.device("cpu")
        ]
    try:
        function(hp, data, user_report, **options)
    finally:
        writer.close()
    if reports == 0 and state is None:
        # Ray Tune would end the trial with no result at all, and its check for the searched
        # metric then stops the whole experiment: this trial fails alone, saying why.
        raise NeverReportedError(
            f"train.function {_name(function)} returned without reporting "
            f"{settings.metric!r}: it must call report(metrics) once an epoch, with "
            f"{EPOCH!r} and {settings.metric!r} in metrics"
        )


class NeverReportedError(RuntimeError):
    """A user's training function returned without reporting once: the trial fails."""


def _name(function: Callable[..., Any]) -> str:
    """``module:function``, as a config names it.

    Example:
        >>> _name(train)
        'raytune_hp.trainable:train'
    """
    qualname = getattr(function, "__qualname__", None) or repr(function)
    return f"{getattr(function, '__module__', '?')}:{qualname}"


def _takes(function: Callable[..., Any], keyword: str) -> bool:
    """Whether ``function`` accepts ``keyword`` (by name, or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
