"""The built-in MLP: any input flattened, the MLP table's width and depth.

Example:
    >>> model = build({"hidden_size": 64, "num_layers": 2, "dropout": 0.1}, (1, 8, 8), 10)
    >>> len([m for m in model.modules() if m.__class__.__name__ == "Linear"])
    3
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import nn


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Flattens any input, then ``num_layers`` × (linear, ReLU, dropout) of width
    ``hidden_size`` and a linear output layer (one output per class or regression target).

    Reads ``hidden_size``, ``num_layers`` and ``dropout``; any input shape.
    """
    width = int(hp["hidden_size"])
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(int(hp["num_layers"])):
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(float(hp["dropout"]))]
        features = width
    layers.append(nn.Linear(features, num_outputs))
    return nn.Sequential(*layers)
