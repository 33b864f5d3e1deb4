"""Where a trial computes: its device, its share of a GPU, the data's place, the precision.

A trial trains on ``cuda:0`` where Ray gave it a GPU, else on the CPU. A trial holding a fraction
of a GPU is capped to that fraction of its memory; the data set goes onto the GPU once when it
fits (data read by DataLoaders is pinned in host memory instead), and forward passes run under
bfloat16 autocast for ``bf16``.

Example:
    >>> gpu_share(0.25), gpu_share(2)
    (0.25, 1.0)
    >>> import torch
    >>> limit_gpu_memory(0.25, torch.device("cpu")) is None  # nothing to cap on the CPU
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import torch

from raytune_hp.data import Dataset, LoaderData

Data = TypeVar("Data", bound=Dataset | LoaderData)


def select_device() -> torch.device:
    """``cuda:0`` where a GPU is visible: Ray sets ``CUDA_VISIBLE_DEVICES`` to the one it
    assigned this trial, so device 0 is that GPU. Otherwise the CPU."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def gpu_share(gpus_per_trial: float) -> float:
    """The share of one GPU a trial holds: ``0.25`` when four trials share it, 1 for a whole
    GPU (or more, or none)."""
    return float(gpus_per_trial) if 0 < gpus_per_trial < 1 else 1.0


def limit_gpu_memory(share: float, device: torch.device) -> int | None:
    """Caps this process to ``share`` of ``device``'s memory when it shares the GPU (a
    fractional ``gpus_per_trial``), so a trial that outgrows its share fails alone with an
    out-of-memory error instead of starving the trials beside it. Returns the cap in bytes, or
    ``None`` where nothing is capped (the CPU, or a whole GPU)."""
    if device.type != "cuda" or not 0 < share < 1:
        return None
    torch.cuda.set_per_process_memory_fraction(share, device)
    return int(share * torch.cuda.get_device_properties(device).total_memory)


def place_data(data: Data, device: torch.device, budget_bytes: int | None = None) -> Data:
    """Tensors on ``device`` once for the whole trial when they fit in half of the memory
    available to the trial (``budget_bytes``, else what the device has free); otherwise they stay
    in (pinned) host memory and each batch is copied over as it is used. A dataset pair read by
    DataLoaders stays where it is and its batches come in pinned memory; a user's own loaders
    are left as they are."""
    if device.type != "cuda":
        return data
    if isinstance(data, LoaderData):
        return dataclasses.replace(data, pin_memory=True) if data.datasets is not None else data
    x_train, y_train, x_val, y_val = data.x_train, data.y_train, data.x_val, data.y_val
    size = sum(t.element_size() * t.nelement() for t in (x_train, y_train, x_val, y_val))
    free = budget_bytes if budget_bytes is not None else torch.cuda.mem_get_info(device)[0]
    move = (lambda t: t.to(device)) if size <= free // 2 else (lambda t: t.pin_memory())
    return dataclasses.replace(
        data, x_train=move(x_train), y_train=move(y_train), x_val=move(x_val), y_val=move(y_val)
    )


def autocast(device: torch.device, precision: str) -> Any:
    """bfloat16 autocast for ``bf16`` (weights, gradients and optimizer state stay float32, so
    no loss scaling is needed); a no-op context for ``fp32``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
