"""The built-in Transformer encoder over (time, features), the Transformer table's sizes
(Vaswani et al. 2017), with a linear head: one output per class or regression target.

Example:
    >>> import torch
    >>> model = build({"d_model": 64, "num_heads": 2, "num_layers": 1, "ff_mult": 2,
    ...                "dropout": 0.1}, input_shape=(8, 8), num_outputs=10)
    >>> model(torch.zeros(3, 8, 8)).shape
    torch.Size([3, 10])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from raytune_hp.models import sequence_shape


class _TransformerClassifier(nn.Module):
    """Linear projection + learned positions → encoder layers → mean over time → linear."""

    def __init__(
        self,
        length: int,
        features: int,
        d_model: int,
        num_heads: int,
        num_layers: int,
        ff_mult: int,
        dropout: float,
        num_outputs: int,
    ) -> None:
        super().__init__()
        self.projection = nn.Linear(features, d_model)
        # Small initial positions, as in GPT-2 and ViT, so they do not drown the projected input.
        self.position = nn.Parameter(torch.empty(1, length, d_model))
        nn.init.normal_(self.position, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model,
            nhead=num_heads,
            dim_feedforward=ff_mult * d_model,
            dropout=dropout,
            batch_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d_model, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.projection(x) + self.position[:, : x.shape[1]]
        return self.classifier(self.encoder(h).mean(dim=1))


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """A Transformer encoder over (N, T, F) inputs with ``num_outputs`` outputs (classes or
    regression targets), FF width ``ff_mult`` × d_model.

    Reads ``d_model``, ``num_heads`` (dividing d_model), ``num_layers``, ``ff_mult`` and
    ``dropout``.
    """
    length, features = sequence_shape("transformer", input_shape)
    d_model, num_heads = int(hp["d_model"]), int(hp["num_heads"])
    if d_model % num_heads != 0:
        raise ValueError(
            f"transformer: d_model must be divisible by num_heads; "
            f"got d_model={d_model}, num_heads={num_heads}; pick heads from the divisors of d_model"
        )
    return _TransformerClassifier(
        length=length,
        features=features,
        d_model=d_model,
        num_heads=num_heads,
        num_layers=int(hp["num_layers"]),
        ff_mult=int(hp["ff_mult"]),
        dropout=float(hp["dropout"]),
        num_outputs=num_outputs,
    )
