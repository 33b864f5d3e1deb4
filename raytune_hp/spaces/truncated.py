"""Truncated normal distributions for HyperOpt: the tables' priors, sampled and modelled.

HyperOpt's TPE keeps, beside a Gaussian around each observation, one around each
hyperparameter's *prior*, weighted ``prior_weight`` (Bergstra et al. 2011), and draws its
start-up trials from the prior. Its own distributions are either flat over a range (``uniform``,
``loguniform``: the prior component is then a broad Gaussian over the range) or Gaussian without
bounds (``normal``, ``lognormal``). A prior from the tables is a Gaussian *within* a hard range,
so this module adds two distributions to HyperOpt, by its own extension points:

- ``truncnormal(mu, sigma, low, high, q)``: a normal on the value, truncated to ``[low, high]``
  (rounded to multiples of ``q`` when given);
- ``logtruncnormal(mu, sigma, low, high, q)``: the same on the natural log of the value, its
  bounds in logs (as ``loguniform`` takes them).

Each is a pyll function (how random and start-up trials are drawn) and an adaptive Parzen sampler
(how TPE builds its "good" and "bad" densities from the observations and the prior: HyperOpt's
own truncated mixtures, ``GMM1``/``LGMM1``). Importing the module registers them, once.

Example:
    >>> import numpy as np
    >>> from hyperopt.pyll import stochastic
    >>> expr = truncnormal("dropout", 0.375, 0.2, 0.0, 0.8)
    >>> draws = [stochastic.sample(expr, rng=np.random.default_rng(s)) for s in range(200)]
    >>> 0.0 <= min(draws) and max(draws) <= 0.8
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hyperopt import tpe
from hyperopt.pyll import scope
from hyperopt.pyll.stochastic import implicit_stochastic

TRUNCNORMAL = "truncnormal"
LOGTRUNCNORMAL = "logtruncnormal"


def _draw(mu: float, sigma: float, low: float, high: float, rng: Any, size: Any) -> np.ndarray:
    """Draws of N(mu, sigma) inside [low, high], by rejection in batches."""
    n = int(np.prod(size))  # 1 for size (), 0 for a branch not taken
    kept: list[float] = []
    while len(kept) < n:
        batch = rng.normal(mu, sigma, size=max(16, 2 * (n - len(kept))))
        kept.extend(x for x in batch if low <= x <= high)
    return np.reshape(np.asarray(kept[:n]), size)


def _truncnormal(
    mu: float,
    sigma: float,
    low: float,
    high: float,
    q: float | None = None,
    rng: Any = None,
    size: Any = (),
) -> Any:
    samples = _draw(mu, sigma, low, high, rng, size)
    return samples if q is None else np.round(samples / q) * q


def _logtruncnormal(
    mu: float,
    sigma: float,
    low: float,
    high: float,
    q: float | None = None,
    rng: Any = None,
    size: Any = (),
) -> Any:
    samples = np.exp(_draw(mu, sigma, low, high, rng, size))
    return samples if q is None else np.round(samples / q) * q


def _ap_truncnormal(
    obs: Any,
    prior_weight: Any,
    mu: Any,
    sigma: Any,
    low: Any,
    high: Any,
    q: Any,
    size: Any = (),
    rng: Any = None,
) -> Any:
    weights, mus, sigmas = scope.adaptive_parzen_normal(obs, prior_weight, mu, sigma)
    return scope.GMM1(weights, mus, sigmas, low=low, high=high, q=q, size=size, rng=rng)


def _ap_logtruncnormal(
    obs: Any,
    prior_weight: Any,
    mu: Any,
    sigma: Any,
    low: Any,
    high: Any,
    q: Any,
    size: Any = (),
    rng: Any = None,
) -> Any:
    weights, mus, sigmas = scope.adaptive_parzen_normal(scope.log(obs), prior_weight, mu, sigma)
    return scope.LGMM1(weights, mus, sigmas, low=low, high=high, q=q, size=size, rng=rng)


def _register() -> None:
    for name, draw, model in (
        (TRUNCNORMAL, _truncnormal, _ap_truncnormal),
        (LOGTRUNCNORMAL, _logtruncnormal, _ap_logtruncnormal),
    ):
        if name not in scope._impls:
            draw.__name__ = name
            implicit_stochastic(scope.define(draw))
        if name not in tpe.adaptive_parzen_samplers:
            tpe.adaptive_parzen_sampler(name)(model)


_register()


def truncnormal(
    label: str, mu: float, sigma: float, low: float, high: float, q: float | None = None
) -> Any:
    """A hyperparameter drawn from N(``mu``, ``sigma``) within ``[low, high]``."""
    return scope.float(scope.hyperopt_param(label, scope.truncnormal(mu, sigma, low, high, q)))


def logtruncnormal(
    label: str, mu: float, sigma: float, low: float, high: float, q: float | None = None
) -> Any:
    """A hyperparameter whose natural log is drawn from N(``mu``, ``sigma``) within
    ``[low, high]`` (logs of the bounds)."""
    node = scope.logtruncnormal(mu, sigma, low, high, q)
    return scope.float(scope.hyperopt_param(label, node))
