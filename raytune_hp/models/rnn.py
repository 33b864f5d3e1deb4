"""The built-in RNN: an LSTM or GRU over (time, features), the RNN table's sizes, and a linear
head with one output per class or regression target.

Dropout sits on the input and output only, never inside the recurrence (the tables' rule).

Example:
    >>> import torch
    >>> rnn = build({"cell": "gru", "hidden_size": 64, "num_layers": 1, "dropout": 0.2},
    ...             input_shape=(8, 8), num_outputs=10)
    >>> rnn(torch.zeros(4, 8, 8)).shape
    torch.Size([4, 10])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from raytune_hp.models import sequence_shape


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
        num_outputs: int,
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
        self.classifier = nn.Linear(hidden_size * (2 if bidirectional else 1), num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.input_dropout(x))
        h_n = state[0] if isinstance(state, tuple) else state  # the LSTM also returns c_n
        # The backward direction's final state is its output at t = 0, not at the last step, so
        # it is taken from h_n: the last layer's directions are h_n's last one or two entries.
        directions = 2 if self.rnn.bidirectional else 1
        last = h_n[-directions:].transpose(0, 1).reshape(x.shape[0], -1)
        return self.classifier(self.output_dropout(last))


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """An LSTM or GRU over (N, T, F) inputs with ``num_outputs`` outputs (classes or regression
    targets); dropout only on input and output.

    Reads ``cell`` ("lstm" or "gru"), ``hidden_size``, ``num_layers``, ``dropout`` and
    ``bidirectional`` (optional, default False).
    """
    _, features = sequence_shape("rnn", input_shape)
    return _RNNClassifier(
        cell=str(hp["cell"]).lower(),
        features=features,
        hidden_size=int(hp["hidden_size"]),
        num_layers=int(hp["num_layers"]),
        bidirectional=bool(hp.get("bidirectional", False)),
        dropout=float(hp["dropout"]),
        num_outputs=num_outputs,
    )
