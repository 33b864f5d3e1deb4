"""A user's own model builder, data loader and whole training function.

raytune-hp imports these only because configs/custom.yaml and configs/custom_function.yaml name
them (``examples.custom:build`` and so on); run from the repository's root so ``examples`` is on
the path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def load(val_fraction: float, seed: int) -> tuple[torch.Tensor, ...]:
    """Two interleaved half-moons with noise: (x_train, y_train, x_val, y_val)."""
    x, y = make_moons(n_samples=1200, noise=0.25, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=y
    )
    return tuple(torch.as_tensor(a) for a in (x_train, y_train, x_val, y_val))


def build(hp: Mapping[str, Any], input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """An MLP whose width comes from the config's own hyperparameter ``width`` and whose
    activation is the config's own ``activation``; dropout from the regularization table."""
    width, act = int(hp["width"]), ACTIVATIONS[hp["activation"]]
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(input_shape[-1], width),
        act(),
        nn.Dropout(float(hp["dropout"])),
        nn.Linear(width, width),
        act(),
        nn.Linear(width, num_outputs),
    )


def train(
    hp: Mapping[str, Any],
    data: Any,
    report: Callable[..., None],
    *,
    max_epochs: int,
    state: Mapping[str, Any] | None = None,
) -> None:
    """A whole training function of the user's: full-batch training of the model above, one
    report per epoch with the state to resume from."""
    model = build(hp, data.input_shape, data.num_outputs)
    optimizer = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    first = 1
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first = state["epoch"] + 1
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(first, max_epochs + 1):
        model.train()
        for _ in range(10):
            optimizer.zero_grad()
            loss = loss_fn(model(data.x_train), data.y_train)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(data.x_val)
            val_loss = float(loss_fn(logits, data.y_val))
            val_acc = float((logits.argmax(1) == data.y_val).float().mean())
        metrics = {
            "epoch": epoch,
            "train_loss": float(loss),
            "val_loss": val_loss,
            "val_acc": val_acc,
        }
        report(
            metrics,
            {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
        )
