"""The tables' priors inside HyperOpt: drawn at random, and modelled by TPE."""

from __future__ import annotations

import math

import numpy as np
from hyperopt import STATUS_OK, Trials, fmin, tpe

from raytune_hp.spaces import contains, flatten, resolve_space, to_hyperopt


def test_tpe_learns_beyond_the_table_under_a_prior_that_leans_on_it() -> None:
    # The best learning rate lies outside the table (momentum at 3e-2, the table says
    # [1e-3, 1e-2]); TPE, starting from the prior, finds its way there within the hard range.
    space = resolve_space(
        "mlp", {"bounds": "wide", "prior": "tables", "optimizer": "momentum", "num_layers": 1}
    )
    seen: list[dict] = []

    def loss(sampled: dict) -> dict:
        config = flatten(sampled)
        seen.append(config)
        distance = (math.log10(config["lr"]) - math.log10(3e-2)) ** 2
        return {"loss": distance + 0.1 * abs(config["dropout"] - 0.2), "status": STATUS_OK}

    trials = Trials()
    fmin(
        loss,
        to_hyperopt(space),
        tpe.suggest,
        60,
        trials=trials,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
    )
    fixed = {dim.name: dim.value for dim in space.dims if dim.fixed}
    assert all(contains(space, config | fixed) for config in seen)
    late = [config["lr"] for config in seen[-20:]]
    assert sum(1e-2 < lr <= 1e-1 for lr in late) >= 10  # beyond the table, inside the wide range
    best = min(trials.losses())
    assert best < 0.05


def test_tpe_models_priors_inside_conditional_branches() -> None:
    # The lr under each optimizer is a branch: TPE draws none for the branches not taken.
    space = resolve_space("cnn", {"bounds": "wide", "prior": "tables"})
    seen: list[dict] = []

    def loss(sampled: dict) -> dict:
        config = flatten(sampled)
        seen.append(config)
        return {"loss": abs(math.log10(config["lr"]) + 2.5), "status": STATUS_OK}

    fmin(
        loss,
        to_hyperopt(space),
        tpe.suggest,
        25,
        trials=Trials(),
        rstate=np.random.default_rng(1),
        show_progressbar=False,
    )
    assert len(seen) == 25 and all(contains(space, config) for config in seen)
