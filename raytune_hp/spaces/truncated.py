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

from collections.abc import Callable
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


def _sampler(log: bool) -> Callable[..., Any]:
    """How ``truncnormal`` (``log``: ``logtruncnormal``) is drawn: N(mu, sigma) within
    [low, high], on the value (on its log), rounded to multiples of ``q`` when given."""

    def draw(
        mu: float,
        sigma: float,
        low: float,
        high: float,
        q: float | None = None,
        rng: Any = None,
        size: Any = (),
    ) -> Any:
        samples = _draw(mu, sigma, low, high, rng, size)
        samples = np.exp(samples) if log else samples
        return samples if q is None else np.round(samples / q) * q

    return draw


def _parzen_model(log: bool) -> Callable[..., Any]:
    """How TPE models ``truncnormal`` (``log``: ``logtruncnormal``) from the observations and
    the prior: HyperOpt's truncated Gaussian mixture, on the value (on its log)."""

    def model(
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
        points = scope.log(obs) if log else obs
        weights, mus, sigmas = scope.adaptive_parzen_normal(points, prior_weight, mu, sigma)
        mixture = scope.LGMM1 if log else scope.GMM1
        return mixture(weights, mus, sigmas, low=low, high=high, q=q, size=size, rng=rng)

    return model


def _register() -> None:
    for name, log in ((TRUNCNORMAL, False), (LOGTRUNCNORMAL, True)):
        if name not in scope._impls:
            draw = _sampler(log)
            draw.__name__ = name
            implicit_stochastic(scope.define(draw))
        if name not in tpe.adaptive_parzen_samplers:
            tpe.adaptive_parzen_sampler(name)(_parzen_model(log))


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
