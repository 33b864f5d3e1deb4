"""A simulated trial for ``benchmarks/scale.py``: a synthetic learning curve, each epoch a sleep.

No training happens: each epoch sleeps ``epoch_seconds`` (a fixed hyperparameter of the
benchmark's space) and reports a validation accuracy that climbs towards an asymptote set by how
far ``lr`` is from a sweet spot (and ``dropout`` from its own), plus noise drawn from the trial's
hyperparameters (the same configuration always gives the same curve). Every report also carries
the wall-clock times its sleep began and ended and the process's CPU seconds so far, from which
the benchmark computes how much of each trial slot was spent simulating training.

A trial whose space names a ``stop_file`` ends after the first epoch that finds that file (the
benchmark creates it once its steady window is long enough), else after ``max_epochs``.

raytune-hp imports these because the benchmark's config names them (``benchmarks.simulated:train``
and so on); run from the repository's root so ``benchmarks`` is on the path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

EPOCH_SECONDS, STOP_FILE = "epoch_seconds", "stop_file"
# What each report adds besides the metrics: the sleep's wall-clock bounds, the process.
SIM_START, SIM_END, PROCESS_CPU_S, PID = "sim_start", "sim_end", "process_cpu_s", "pid"
BEST_LR, BEST_DROPOUT = 1e-3, 0.2


def load(val_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """Eight points of two classes: (x_train, y_train, x_val, y_val). Trials never read them;
    they are kept tiny because they travel to every trial through Ray's object store."""
    x = torch.arange(16, dtype=torch.float32).reshape(8, 2)
    y = torch.tensor([0, 1] * 4)
    return x, y, x[:4], y[:4]


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """A model a custom config must name (``model.builder``) for its tables to apply; unused."""
    return nn.Linear(input_shape[-1], num_outputs)


def curve(hp: Mapping[str, Any], epoch: int, max_epochs: int) -> tuple[float, float]:
    """``(val_acc, val_loss)`` after ``epoch`` epochs: an exponential approach to an asymptote
    that falls with the squared distance of log10(lr) from log10(1e-3) and of dropout from 0.2,
    with ±0.01 of noise seeded by the configuration and the epoch."""
    lr_miss = math.log10(float(hp["lr"]) / BEST_LR)
    dropout_miss = float(hp["dropout"]) - BEST_DROPOUT
    miss = lr_miss**2 + 4 * dropout_miss**2
    ceiling = 0.1 + 0.88 * math.exp(-miss / 2)
    progress = 1 - math.exp(-3 * epoch / max_epochs)
    key = json.dumps({**hp, "epoch": epoch}, sort_keys=True, default=str)
    noise = random.Random(hashlib.sha256(key.encode()).digest()).uniform(-0.01, 0.01)
    val_acc = min(1.0, max(0.0, 0.1 + (ceiling - 0.1) * progress + noise))
    return val_acc, -math.log(max(val_acc, 1e-6))


def train(
    hp: Mapping[str, Any],
    data: Any,
    report: Callable[..., None],
    *,
    max_epochs: int,
    state: Mapping[str, Any] | None = None,
) -> None:
    """A whole training function as raytune-hp calls it: one sleep and one report per epoch,
    resumable from the epoch in ``state``; it ends early once ``hp["stop_file"]`` exists."""
    seconds = float(hp[EPOCH_SECONDS])
    stop = hp.get(STOP_FILE)
    for epoch in range((state or {}).get("epoch", 0) + 1, max_epochs + 1):
        start = time.time()
        time.sleep(seconds)
        end = time.time()
        val_acc, val_loss = curve(hp, epoch, max_epochs)
        metrics = {
            "epoch": epoch,
            "val_acc": val_acc,
            "val_loss": val_loss,
            SIM_START: start,
            SIM_END: end,
            PROCESS_CPU_S: time.process_time(),
            PID: os.getpid(),
        }
        report(metrics, state={"epoch": epoch})
        if stop and os.path.exists(stop):
            return
