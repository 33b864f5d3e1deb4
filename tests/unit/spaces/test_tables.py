"""The recommendation tables' own data: the learning-rate table builds each optimizer it names."""

from __future__ import annotations

from typing import Any

import pytest

from raytune_hp.spaces import LR_TABLE, OPTIMIZERS, TABLES

# What trainable.build_optimizer built for each name before the table learned to build them.
TORCH_OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "adagrad": ("Adagrad", {}),
    "adadelta": ("Adadelta", {}),
    "rmsprop": ("RMSprop", {}),
    "adam": ("Adam", {}),
    "nadam": ("NAdam", {}),
    "adamw": ("AdamW", {}),
}


def settings(optimizer: Any) -> list[dict[str, Any]]:
    """Each param group's settings (everything but its parameters)."""
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def test_the_lr_table_names_every_optimizer_the_optimization_table_offers() -> None:
    (optimizer,) = [row for row in TABLES["optimization"].rows if row.name == "optimizer"]
    assert optimizer.choices == tuple(row.name for row in LR_TABLE) == tuple(TORCH_OPTIMIZERS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_row_builds_what_the_trainable_builds(name: str) -> None:
    import torch

    from raytune_hp.trainable import build_optimizer

    row = OPTIMIZERS[name]
    model = torch.nn.Linear(3, 2)
    built = row.build(model.parameters(), lr=row.low, weight_decay=1e-4)
    expected = build_optimizer(name, model.parameters(), lr=row.low, weight_decay=1e-4)
    assert type(built) is type(expected)
    assert settings(built) == settings(expected)
    assert [id(p) for g in built.param_groups for p in g["params"]] == [
        id(p) for p in model.parameters()
    ]
    torch_class, options = TORCH_OPTIMIZERS[name]
    assert type(built) is getattr(torch.optim, torch_class)
    reference = getattr(torch.optim, torch_class)(
        model.parameters(), lr=row.low, weight_decay=1e-4, **options
    )
    assert settings(built) == settings(reference)
    assert settings(built)[0]["lr"] == row.low and settings(built)[0]["weight_decay"] == 1e-4
