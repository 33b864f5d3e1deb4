"""The built-in CNN for images: the CNN table's kernel size, kernel count and layers.

Example:
    >>> model = build({"kernel_size": 3, "num_kernels": 100, "num_layers": 1, "dropout": 0.5},
    ...               input_shape=(1, 8, 8), num_outputs=10)
    >>> sum(p.numel() for p in model.parameters())
    17010
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Conv blocks (odd kernel, 'same' padding, ReLU), 2×2 max-pooling while the map is ≥ 4 wide,
    then dropout and one linear layer (one output per class or regression target). No BatchNorm:
    the simplest model that works.

    Reads ``kernel_size``, ``num_kernels``, ``num_layers`` and ``dropout``; input (C, H, W).
    """
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for _ in range(int(hp["num_layers"])):
        k = int(hp["kernel_size"])
        layers += [nn.Conv2d(channels, int(hp["num_kernels"]), k, padding=k // 2), nn.ReLU()]
        channels = int(hp["num_kernels"])
        if min(height, width) >= 4:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
    layers += [
        nn.Flatten(),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(channels * height * width, num_outputs),
    ]
    return nn.Sequential(*layers)
