"""The built-in models: one registry of each family's name, the recommendation tables its search
space draws from, the inputs it takes, and its builder.

:data:`MODELS` is the one place a model is declared: the config's ``model.name`` choices, the
tables ``raytune-hp spaces`` shows for each model, the check that the data fits the model, and
:func:`build_model` all come from it. Each family's network lives in the module of its name
(``models/cnn.py``, ...), which imports torch and is imported only when a model is built, so
reading a config stays light. Every builder takes ``(hp, input_shape, num_outputs)`` (outputs:
classes for classification, targets for regression) and reads only its own keys of the flat
hyperparameter dict (optimizer, lr, batch size and so on ride along in the same dict).

Example:
    >>> MODELS["transformer"].tables
    ('optimization', 'transformer', 'regularization', 'schedule')
    >>> model = build_model("cnn", {"kernel_size": 3, "num_kernels": 100, "num_layers": 1,
    ...                             "dropout": 0.5}, input_shape=(1, 8, 8), num_outputs=10)
    >>> count_parameters(model)
    17010
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn

Inputs = Literal["images", "sequences", "any"]
Builder = Callable[..., "nn.Module"]


@dataclass(frozen=True)
class ModelSpec:
    """A built-in model family.

    ``tables`` are the recommendation tables its space draws from, in order (where two tables
    name the same hyperparameter, the first wins: the model's own table before the general ones).
    ``inputs`` is the shape of sample it takes: ``images`` (C, H, W), ``sequences`` (T, F), or
    ``any``.
    """

    name: str
    tables: tuple[str, ...]
    inputs: Inputs

    @property
    def module(self) -> str:
        """The module that builds it: ``raytune_hp.models.<name>``, with ``build``."""
        return f"{__name__}.{self.name}"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("cnn", ("optimization", "cnn", "regularization"), "images"),
        ModelSpec("mlp", ("optimization", "mlp", "regularization"), "any"),
        ModelSpec("rnn", ("optimization", "rnn", "regularization"), "sequences"),
        ModelSpec(
            "transformer",
            ("optimization", "transformer", "regularization", "schedule"),
            "sequences",
        ),
    )
}
CUSTOM = "custom"
"""``model.name`` of a model the user builds (``model.builder``), whose tables the config names."""


def build_model(
    name: str, hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """Builds the built-in model ``name`` for a flat hyperparameter dict, with ``num_outputs``
    outputs: classes for classification, targets for regression.

    Raises:
        ValueError: if the hyperparameters or the input shape do not fit the model.
    """
    builder = importlib.import_module(MODELS[name].module).build
    return builder(hp, input_shape, num_outputs)  # type: ignore[no-any-return]


def model_builder(name: str, builder: Builder | None = None) -> Builder:
    """``(hp, input_shape, num_outputs) -> nn.Module``: ``builder`` (the user's own) when given,
    else the built-in model ``name``'s."""
    return builder if builder is not None else functools.partial(build_model, name)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


CAPACITY_RULE = 0.5  # trainable parameters per training sample, at most
CAPACITY_IDEAL = 0.1  # ... and ideally


def capacity_limit(train_samples: int) -> int:
    """The most trainable parameters the capacity rule allows for ``train_samples``: a model
    with more can memorise its training set and learns little that generalises.

    Example:
        >>> capacity_limit(1437)
        718
    """
    return math.floor(CAPACITY_RULE * train_samples)


def sequence_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(time, features)`` of a sequence model's input.

    Raises:
        ValueError: the input is not two-dimensional per sample.
    """
    if len(input_shape) != 2:
        raise ValueError(
            f"{model}: input_shape must be (time, features); got {tuple(input_shape)}; "
            "use a sequence data set such as 'digits_sequences'"
        )
    return int(input_shape[0]), int(input_shape[1])
