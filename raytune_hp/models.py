"""Models built from a trial's hyperparameters.

Each builder reads only its own keys from the flat hyperparameter dict and ignores the rest
(optimizer, lr, batch size and so on live in the same dict).

Example:
    >>> model = build_model("cnn", {"kernel_size": 3, "num_kernels": 100, "num_layers": 1,
    ...                             "dropout": 0.5}, input_shape=(1, 8, 8), num_classes=10)
    >>> sum(p.numel() for p in model.parameters())
    17010
    >>> import torch
    >>> rnn = build_model("rnn", {"cell": "gru", "hidden_size": 64, "num_layers": 1,
    ...                           "dropout": 0.2}, input_shape=(8, 8), num_classes=10)
    >>> rnn(torch.zeros(4, 8, 8)).shape
    torch.Size([4, 10])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def _cnn(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Conv blocks (odd kernel, 'same' padding, ReLU), 2×2 max-pooling while the map is ≥ 4 wide,
    then dropout and one linear layer. No BatchNorm: the simplest model that works."""
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
        nn.Linear(channels * height * width, num_classes),
    ]
    return nn.Sequential(*layers)


def _mlp(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Flattens any input, then ``num_layers`` × (linear, ReLU, dropout) of width
    ``hidden_size`` and a linear classifier."""
    width = int(hp["hidden_size"])
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(int(hp["num_layers"])):
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(float(hp["dropout"]))]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def _sequence_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(input_shape) != 2:
        raise ValueError(
            f"{model}: input_shape must be (time, features); got {tuple(input_shape)}; "
            "use a sequence data set such as 'digits_sequences'"
        )
    return int(input_shape[0]), int(input_shape[1])


class _RNNClassifier(nn.Module):
    """Dropout → LSTM/GRU → dropout → linear, on the final hidden state of the last layer."""

    def __init__(
        self,
        cell: str,
        features: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        rnn_classes: dict[str, type[nn.LSTM] | type[nn.GRU]] = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in rnn_classes:
            raise ValueError(f"rnn: cell must be one of {sorted(rnn_classes)}; got {cell!r}")
        self.input_dropout = nn.Dropout(dropout)
        # dropout=0 even with stacked layers: the design's rule (DESIGN.md §2) puts RNN dropout on
        # the input and output layers only, never inside the recurrence.
        self.rnn = rnn_classes[cell](
            features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=0.0,
            bidirectional=bidirectional,
        )
        self.output_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.input_dropout(x))
        h_n = state[0] if isinstance(state, tuple) else state  # the LSTM also returns c_n
        # The backward direction's final state is its output at t = 0, not at the last step, so
        # it is taken from h_n: the last layer's directions are h_n's last one or two entries.
        directions = 2 if self.rnn.bidirectional else 1
        last = h_n[-directions:].transpose(0, 1).reshape(x.shape[0], -1)
        return self.classifier(self.output_dropout(last))


def _rnn(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """An LSTM or GRU classifier over (N, T, F) inputs; dropout only on input and output."""
    _, features = _sequence_shape("rnn", input_shape)
    return _RNNClassifier(
        cell=str(hp["cell"]).lower(),
        features=features,
        hidden_size=int(hp["hidden_size"]),
        num_layers=int(hp["num_layers"]),
        bidirectional=bool(hp.get("bidirectional", False)),
        dropout=float(hp["dropout"]),
        num_classes=num_classes,
    )


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
        num_classes: int,
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
        self.classifier = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.projection(x) + self.position[:, : x.shape[1]]
        return self.classifier(self.encoder(h).mean(dim=1))


def _transformer(
    hp: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """A Transformer encoder classifier over (N, T, F) inputs, FF width ``ff_mult`` × d_model."""
    length, features = _sequence_shape("transformer", input_shape)
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
        num_classes=num_classes,
    )


BUILDERS = {"cnn": _cnn, "mlp": _mlp, "rnn": _rnn, "transformer": _transformer}


def build_model(
    name: str, hp: Mapping[str, Any], input_shape: tuple[int, ...], num_classes: int
) -> nn.Module:
    """Builds model ``name`` for a flat hyperparameter dict.

    Keys each model reads (others are ignored):

    - ``cnn``: kernel_size, num_kernels, num_layers, dropout; input (C, H, W).
    - ``mlp``: hidden_size, num_layers, dropout; any input shape.
    - ``rnn``: cell ("lstm" or "gru"), hidden_size, num_layers, dropout, bidirectional
      (optional, default False); input (T, F).
    - ``transformer``: d_model, num_heads, num_layers, ff_mult, dropout; input (T, F).

    Raises:
        ValueError: if the hyperparameters or the input shape do not fit the model.
    """
    return BUILDERS[name](hp, input_shape, num_classes)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
