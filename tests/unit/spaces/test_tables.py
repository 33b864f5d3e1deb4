"""The recommendation tables' own data, and what a user sees of it.

Every shipped config's samples are checked by a checker written here from ``spaces.TABLES`` (not
by ``spaces.contains``, which is only asked to agree); the learning-rate table builds each
optimizer it names, as the trainable does.

Timing (measured on a 2-core machine): drawing and checking 2,000 configurations for each of the
9 shipped configs (18,000 in all) takes about 15 s, from 0.8 s (custom_function, 4 tuned) to
3 s (cnn_tricks, 14 tuned, with the schedule's branches), nearly all of it HyperOpt drawing the
samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from raytune_hp import spaces
from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import SearchSpaceError
from raytune_hp.models import MODELS
from raytune_hp.spaces import LR_TABLE, OPTIMIZERS, TABLES, contains, resolve_space, sample

REPO = Path(__file__).resolve().parents[3]
SHIPPED = sorted((REPO / "configs").glob("*.yaml"))
DRAWS = 2000
FINE = 0.01  # the design's "two orders of magnitude" for fine-tuning
RESERVED = ("fine_tune", "include", "bounds", "prior", "prior_strength")
TABLE_BOUNDS = "space.bounds=table"


# --- an independent checker, from the tables' data ------------------------------------------------


def config_rows(config: ExperimentConfig) -> dict[str, spaces.Row]:
    """The rows of the config's tables, in order; where names repeat the first table wins."""
    if config.model.name == "custom":
        names = list(config.model.tables or spaces.DEFAULT_CUSTOM_TABLES)
    else:
        names = list(MODELS[config.model.name].tables)
    names += [name for name in config.space.get("include", []) if name not in names]
    rows: dict[str, spaces.Row] = {}
    for name in names:
        for row in spaces.TABLES[name].rows:
            rows.setdefault(row.name, row)
    return rows


def own_hyperparameters(config: ExperimentConfig) -> dict[str, Mapping[str, Any]]:
    rows = config_rows(config)
    return {
        key: spec
        for key, spec in config.space.items()
        if key not in rows and key not in RESERVED and isinstance(spec, Mapping) and "kind" in spec
    }


def fixed_value(spec: Any) -> tuple[bool, Any]:
    """Whether an override fixes its hyperparameter, and to what."""
    if isinstance(spec, Mapping):
        if "value" in spec:
            return True, spec["value"]
        if "low" in spec and spec.get("low") == spec.get("high"):
            return True, spec["low"]
        if "choices" in spec and len(spec["choices"]) == 1:
            return True, spec["choices"][0]
        return False, None
    if isinstance(spec, list):
        return (True, spec[0]) if len(spec) == 1 else (False, None)
    return spec is not None, spec


def in_domain(kind: str, value: Any, low: Any, high: Any, choices: Sequence[Any]) -> bool:
    """A sampled value of ``kind``: choices exact (type too), ints ints, pow2 powers of two."""
    if kind == "choice":
        return any(type(value) is type(choice) and value == choice for choice in choices)
    if isinstance(value, bool):
        return False
    if kind in ("int", "pow2"):
        if type(value) is not int or (kind == "pow2" and (value <= 0 or value & (value - 1))):
            return False
    elif type(value) is not float:
        return False
    return bool(low <= value <= high)


def lr_bounds(config: ExperimentConfig, optimizer: str) -> tuple[float, float]:
    row = spaces.OPTIMIZERS[optimizer]
    scale = FINE if config.space.get("fine_tune") is True else 1.0
    low, high = row.low * scale, row.high * scale
    spec = config.space.get("lr")
    if isinstance(spec, Mapping) and optimizer in spec:
        spec = spec[optimizer]
    if isinstance(spec, Mapping) and "low" in spec:
        if spec.get(spaces.OUTSIDE) is True:
            return spec["low"], spec["high"]
        return max(low, spec["low"]), min(high, spec["high"])
    return low, high


def problems(config: ExperimentConfig, point: Mapping[str, Any]) -> list[str]:
    """Everything wrong with one sampled configuration; empty when it follows the tables."""
    rows, own, found = config_rows(config), own_hyperparameters(config), []
    expected = set(own)
    for name, row in rows.items():
        if row.when is None or name == spaces.LR or point.get(row.when[0]) in row.when[1]:
            expected.add(name)
    if set(point) != expected:
        found.append(
            f"keys: extra {sorted(set(point) - expected)}, missing {sorted(expected - set(point))}"
        )
    for key, value in point.items():
        spec = config.space.get(key)
        if key in own:
            ok = in_domain(
                spec["kind"], value, spec.get("low"), spec.get("high"), spec.get("choices", ())
            )
            if spec["kind"] == "choice" and len(spec["choices"]) == 1:
                ok = value == spec["choices"][0]
        elif key not in rows:
            continue  # reported with the keys
        elif key == spaces.LR:
            is_fixed, fixed = fixed_value(spec)
            if is_fixed:
                ok = value == fixed
            else:
                optimizer = point.get(spaces.OPTIMIZER)
                ok = optimizer in spaces.OPTIMIZERS and type(value) is float
                if ok:
                    low, high = lr_bounds(config, optimizer)
                    ok = low * (1 - 1e-12) <= value <= high * (1 + 1e-12)
        else:
            row = rows[key]
            is_fixed, fixed = fixed_value(spec)
            outside = isinstance(spec, Mapping) and spec.get(spaces.OUTSIDE) is True
            if is_fixed:
                ok = value == fixed and type(value) is type(fixed)
                if not outside:  # a fixed 0 is a fine dropout: numbers pass as floats
                    number = row.kind in ("float", "log") and not isinstance(value, bool)
                    typed = float(value) if number and isinstance(value, int) else value
                    ok = ok and in_domain(row.kind, typed, row.low, row.high, row.choices)
            elif outside:
                listed = spec.get("choices", ())
                kind = "choice" if listed else row.kind
                ok = in_domain(kind, value, spec.get("low"), spec.get("high"), listed)
            else:
                ok = in_domain(row.kind, value, row.low, row.high, row.choices)
                if isinstance(spec, list):
                    ok = ok and value in spec
                elif isinstance(spec, Mapping) and "low" in spec:
                    ok = ok and spec["low"] <= value <= spec["high"]
        if not ok:
            found.append(f"{key}={value!r} (override {spec!r})")
    if "d_model" in point and "num_heads" in point and point["d_model"] % point["num_heads"]:
        found.append(f"num_heads {point['num_heads']} does not divide d_model {point['d_model']}")
    return found


def choice_values(config: ExperimentConfig) -> dict[str, set[Any]]:
    """The values every tuned choice (or restricted list) can take, to check that all appear."""
    rows, values = config_rows(config), {}
    for name, row in rows.items():
        spec = config.space.get(name)
        if fixed_value(spec)[0] or name == spaces.LR:
            continue
        if isinstance(spec, list):
            values[name] = set(spec)
        elif row.kind == "choice":
            values[name] = set(row.choices)
    for name, spec in own_hyperparameters(config).items():
        if spec["kind"] == "choice" and len(spec["choices"]) > 1:
            values[name] = set(spec["choices"])
    return values


# --- every shipped config, 2,000 draws ------------------------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_draw_of_every_shipped_config_follows_the_tables(path: Path) -> None:
    # The tables as walls (bayes searches beyond them under their prior: tests/unit/spaces/
    # test_priors.py).
    config = load_config(path, [TABLE_BOUNDS])
    space = config.search_space()
    draws = sample(space, DRAWS, config.seed)
    assert len(draws) == DRAWS
    bad = {i: found for i, point in enumerate(draws) if (found := problems(config, point))}
    assert not bad, f"{len(bad)} of {DRAWS} draws break the tables, e.g. {next(iter(bad.items()))}"
    assert all(contains(space, point) for point in draws)
    for name, allowed in choice_values(config).items():
        assert {point[name] for point in draws if name in point} == allowed, name
    if config.model.name == "rnn":
        # The RNN table's clipping range, not the tricks table's [0.5, 5].
        assert min(point["grad_clip"] for point in draws) >= 1.0


def test_the_checker_catches_what_it_is_for() -> None:
    quick, tricks, rnn, transformer = (
        load_config(REPO / "configs" / f"{name}.yaml", [TABLE_BOUNDS])
        for name in ("quickstart", "cnn_tricks", "rnn_bayes", "transformer_noam")
    )
    point = sample(quick.search_space(), 1, 0)[0]
    assert problems(quick, point) == []
    adam = {**point, "optimizer": "adam"}
    for broken in [
        {**adam, "lr": 2e-2},  # SGD's range, not Adam's
        {**point, "batch_size": 48},
        {**point, "batch_size": 64.0},
        {**point, "num_layers": 2},  # fixed by the quickstart
        {**point, "kernel_size": 3.0},
        {**point, "dropout": 0.6},
        {**point, "momentum": 0.9},
        {k: v for k, v in point.items() if k != "dropout"},
    ]:
        assert problems(quick, broken), broken
    base = sample(tricks.search_space(), 50, 0)
    constant = next(p for p in base if p["schedule"] == "constant")
    bert = next(p for p in base if p["schedule"] == "bert")
    assert problems(tricks, {**constant, "power": 1.0})
    assert problems(tricks, {k: v for k, v in bert.items() if k != "end_lr"})
    assert problems(tricks, {**bert, "warmup_steps": 400})  # the config's own [50, 300]
    assert problems(rnn, {**sample(rnn.search_space(), 1, 0)[0], "grad_clip": 0.7})
    point = sample(transformer.search_space(), 1, 0)[0]
    found = problems(transformer, {**point, "d_model": 128, "num_heads": 3})
    assert "num_heads 3 does not divide d_model 128" in found
    finetune = load_config(REPO / "configs" / "mlp_finetune.yaml")
    point = {**sample(finetune.search_space(), 1, 0)[0], "optimizer": "adam"}
    assert problems(finetune, {**point, "lr": 2e-3})  # Adam's range before fine-tuning


# --- the models and their tables ------------------------------------------------------------------


def test_an_unknown_model_lists_the_valid_ones() -> None:
    message = r"^model.name must be one of cnn, mlp, rnn, transformer; got 'vit'$"
    with pytest.raises(SearchSpaceError, match=message):
        resolve_space("vit")


# --- the learning-rate table builds its optimizers ------------------------------------------------


# The torch optimizer each name stands for, its own parameters at library defaults.
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
def test_every_optimizer_row_builds_its_torch_optimizer(name: str) -> None:
    import torch

    row = OPTIMIZERS[name]
    model = torch.nn.Linear(3, 2)
    built = row.build(model.parameters(), lr=row.low, weight_decay=1e-4)
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
