"""A space in other libraries' terms: HyperOpt's expressions, Ray Tune's domains, a point in
HyperOpt's own terms, and reproducible samples.

Conditionals compile to nested choices (the learning rate on the optimizer, the schedule's
parameters on the schedule; never ``tune.sample_from``), so TPE models each branch on its own.
Powers of two are sampled as integer exponents, so TPE sees their order. Both libraries sample
nested dicts; :func:`raytune_hp.spaces.flatten` makes them one level.

Example:
    >>> from raytune_hp.spaces import contains, resolve_space, start_point
    >>> fixed = {"hidden_size": 128, "num_layers": 1, "weight_decay": 0.0}
    >>> space = resolve_space("mlp", {"optimizer": ["adam", "sgd"], **fixed})
    >>> to_hyperopt_point(space, start_point(space))
    {'optimizer': 0, 'lr_adam': 0.001, 'log2_batch_size': 7, 'dropout': 0.5}
    >>> [contains(space, point) for point in sample(space, 3, seed=0)]
    [True, True, True]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from raytune_hp.spaces.priors import ChoicePrior, NumericPrior
from raytune_hp.spaces.space import Dimension, SearchSpace, flatten, ordered
from raytune_hp.values import powers_of_two


def to_hyperopt(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to a native HyperOpt space.

    A parent with conditional children becomes ``hp.choice`` over one dict per value holding the
    children that exist under it (labels ``<child>_<value>``: ``lr_adam``, ``warmup_steps_noam``),
    so TPE models them per branch. Powers of two are sampled as integer exponents, so TPE sees
    their order; integers on a log scale as rounded log-uniform draws. The sampled dict is
    nested; :func:`flatten` makes it one level.
    """
    from hyperopt import hp
    from hyperopt.pyll import scope

    def expr(dim: Dimension, label: str, parent_value: Any = None) -> Any:
        if dim.fixed:
            return dim.value
        prior = dim.prior_for(parent_value)
        if dim.kind == "choice":
            return choice(dim, label, list(dim.choices))
        low, high = dim.range_for(parent_value)
        if isinstance(prior, NumericPrior):
            return _with_prior(dim, label, prior, low, high)
        if dim.kind == "log":
            return hp.loguniform(label, math.log(low), math.log(high))
        if dim.kind == "float":
            return hp.uniform(label, low, high)
        if dim.kind == "int" and dim.log_scale:
            # Rounding a log-uniform draw in [low, high] stays in [low, high]: both are integers.
            return scope.int(hp.qloguniform(label, math.log(low), math.log(high), 1))
        if dim.kind == "int":
            return hp.uniformint(label, low, high)
        exponents = [int(math.log2(bound)) for bound in (low, high)]
        return 2 ** hp.uniformint(_exponent_label(label), *exponents)

    def choice(dim: Dimension, label: str, options: list[Any]) -> Any:
        prior = dim.prior_for(None)
        if isinstance(prior, ChoicePrior):
            return hp.pchoice(label, list(zip(prior.probabilities, options, strict=True)))
        return hp.choice(label, options)

    return _compile(space, expr, lambda dim, branches: choice(dim, dim.name, branches))


def _with_prior(dim: Dimension, label: str, prior: NumericPrior, low: float, high: float) -> Any:
    """A numeric dimension under its prior: a normal on its search scale within its range."""
    from hyperopt.pyll import scope

    from raytune_hp.spaces.truncated import logtruncnormal, truncnormal

    mu, sigma = prior.center, prior.spread
    if dim.kind == "pow2":
        exponents = [math.log2(bound) for bound in (low, high)]
        # Rounded to whole exponents: each end's exponent gets the half step around it.
        drawn = truncnormal(
            _exponent_label(label), mu, sigma, exponents[0] - 0.49, exponents[1] + 0.49, 1
        )
        return 2 ** scope.int(drawn)
    if dim.kind == "int":
        if prior.scale.name == "log":
            bounds = math.log(low - 0.49), math.log(high + 0.49)
            return scope.int(logtruncnormal(label, mu, sigma, *bounds, 1))
        return scope.int(truncnormal(label, mu, sigma, low - 0.49, high + 0.49, 1))
    if prior.scale.name == "log":
        return logtruncnormal(label, mu, sigma, math.log(low), math.log(high))
    return truncnormal(label, mu, sigma, low, high)


def to_tune(space: SearchSpace) -> dict[str, Any]:
    """Compiles ``space`` to Ray Tune domains (``tune.choice`` of per-value dicts for
    conditionals, which Ray resolves natively; :func:`flatten` makes samples one level)."""
    from ray import tune

    def expr(dim: Dimension, label: str, parent_value: Any = None) -> Any:
        if dim.fixed:
            return dim.value
        if dim.kind == "choice":
            return tune.choice(list(dim.choices))
        low, high = dim.range_for(parent_value)
        if dim.kind == "log":
            return tune.loguniform(low, high)
        if dim.kind == "float":
            return tune.uniform(low, high)
        if dim.kind == "int" and dim.log_scale:
            return tune.lograndint(int(low), int(high) + 1)
        if dim.kind == "int":
            return tune.randint(int(low), int(high) + 1)
        return tune.choice(powers_of_two(low, high))

    return _compile(space, expr, lambda dim, branches: tune.choice(branches))


def _compile(space: SearchSpace, expr: Any, choice: Any) -> dict[str, Any]:
    compiled: dict[str, Any] = {}
    for dim in space.top_level():
        if not space.children(dim.name):
            compiled[dim.name] = expr(dim, dim.name)
            continue
        branches = [
            {dim.name: value} | {c.name: expr(c, f"{c.name}_{value}", value) for c in children}
            for value, children in space.branches(dim)
        ]
        compiled[dim.name] = branches[0] if dim.fixed else choice(dim, branches)
    return compiled


def to_hyperopt_point(space: SearchSpace, config: Mapping[str, Any]) -> dict[str, Any]:
    """A flat configuration in HyperOpt's own terms: labels as keys, choices as indices.

    This is the form HyperOpt's ``generate_trials_to_calculate`` needs; handing Ray nested
    ``points_to_evaluate`` breaks it (ray-project/ray #28753, #37582).
    """
    point: dict[str, Any] = {}

    def put(dim: Dimension, label: str) -> None:
        value = config[dim.name]
        if dim.fixed:
            return
        if dim.kind == "choice":
            point[label] = list(dim.choices).index(value)
        elif dim.kind == "pow2":
            point[_exponent_label(label)] = int(math.log2(value))
        else:
            point[label] = value

    for dim in space.top_level():
        put(dim, dim.name)
        for value, children in space.branches(dim, [config[dim.name]]):
            for child in children:
                put(child, f"{child.name}_{value}")
    return point


def sample(space: SearchSpace, n: int, seed: int) -> list[dict[str, Any]]:
    """Draws ``n`` flat configurations from the space's HyperOpt form, reproducibly."""
    import numpy as np
    from hyperopt.pyll import stochastic

    rng = np.random.default_rng(seed)
    compiled = to_hyperopt(space)
    return [ordered(space, flatten(stochastic.sample(compiled, rng=rng))) for _ in range(n)]


def _exponent_label(name: str) -> str:
    return f"log2_{name}"
