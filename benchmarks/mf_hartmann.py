"""mf-prior-bench's multi-fidelity Hartmann functions (mfh3, mfh6) as benchmarks of the replay in
:mod:`tabular`, with their good and bad priors: does a search use a good prior, and survive a
misleading one?

The functions and priors are those of ``mf-prior-bench==1.10.0`` (Apache-2.0;
``mfpbench/synthetic/hartmann/generators.py`` and ``src/priors/mfh{3,6}_*-{good,bad}.yaml``),
ported here because the package pins ``numpy<2`` and would downgrade the project's numpy:
the value at fidelity ``z`` in 1..100 is the Hartmann function with its weights flattened by a
bias and a noise that both fade as ``log z`` grows, exact at ``z = 100``. The presets (``good``,
``moderate``, ``bad``, ``terrible``) set the bias and noise, so how well a low fidelity predicts
the full one; the *good* prior centre is the function's optimum, the *bad* one a point far from
it, as the package ships them.

Fidelity is epochs here: epoch ``e`` of ``E`` evaluates ``z = round(100 e / E)``, and every epoch
costs one virtual second. The space is one raytune-hp custom dimension per coordinate,
``x0``..``x5`` in [0, 1]; a prior variant names each dimension's prior centre
(``{kind: float, low: 0, high: 1, prior: c}``, the search side's key), so a method that reads
priors is run with the good and with the bad one.

Example:
    >>> bench = MFHartmann(3, "good")
    >>> round(bench.value((0.114614, 0.555649, 0.852547), 100), 4)  # the optimum, exact
    -3.8628
    >>> _, curve, seconds = bench.curve({"x0": 0.5, "x1": 0.5, "x2": 0.5})
    >>> len(curve), seconds[-1], curve[-1] > bench.reference
    (50, 50.0, True)
    >>> bench.prior_centres("bad")
    (0.948113477702668, 0.9928311467567525, 0.01720182551910554)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from raytune_hp.config import ExperimentConfig

# (alpha, A, P·1e4, optimum, minimum value): Hartmann's constants.
_H3 = (
    (1.0, 1.2, 3.0, 3.2),
    ((3.0, 10, 30), (0.1, 10, 35), (3.0, 10, 30), (0.1, 10, 35)),
    ((3689, 1170, 2673), (4699, 4387, 7470), (1091, 8732, 5547), (381, 5743, 8828)),
    (0.114614, 0.555649, 0.852547),
    -3.86278,
)
_H6 = (
    (1.0, 1.2, 3.0, 3.2),
    (
        (10, 3, 17, 3.5, 1.7, 8),
        (0.05, 10, 17, 0.1, 8, 14),
        (3, 3.5, 1.7, 10, 17, 8),
        (17, 8, 0.05, 10, 0.1, 14),
    ),
    (
        (1312, 1696, 5569, 124, 8283, 5886),
        (2329, 4135, 8307, 3736, 1004, 9991),
        (2348, 1451, 3522, 2883, 3047, 6650),
        (4047, 8828, 8732, 5743, 1091, 381),
    ),
    (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
    -3.32237,
)
HARTMANN = {3: _H3, 6: _H6}
PRESETS = {"good": (2.5, 2.0), "moderate": (3.0, 3.0), "bad": (3.5, 4.0), "terrible": (4.0, 5.0)}
"""mf-prior-bench's (bias, noise) per preset of the function."""
BAD_PRIORS = {
    3: (0.948113477702668, 0.9928311467567525, 0.01720182551910554),
    6: (
        0.8898550169655478,
        0.7108501444640879,
        0.020121114137669482,
        0.9493659283687782,
        0.934022255307976,
        0.9719539494692392,
    ),
}
"""mf-prior-bench's bad prior centres (the same for every preset); the good ones are the optima."""
Z_MAX, SEED = 100, 1337  # mf-prior-bench's fidelities 1..100 and its generator's default seed
EPOCHS = 50


class MFHartmann:
    """mfh3 or mfh6 with one preset, as a :class:`tabular.Benchmark`; ``prior`` (``None``,
    ``good`` or ``bad``) puts that prior's centres in the config's space."""

    metric, mode = "value", "min"

    def __init__(
        self, dims: int, preset: str, prior: str | None = None, max_epochs: int = EPOCHS
    ) -> None:
        self.dims, self.preset, self.prior = dims, preset, prior
        self.bias, self.noise = PRESETS[preset]
        self.max_epochs = max_epochs
        self.family = f"mfh{dims}_{preset}"
        self.name = self.family if prior is None else f"{self.family} ({prior} prior)"

    @property
    def reference(self) -> float:
        return HARTMANN[self.dims][4]

    def prior_centres(self, prior: str) -> tuple[float, ...]:
        return HARTMANN[self.dims][3] if prior == "good" else BAD_PRIORS[self.dims]

    def value(self, xs: tuple[float, ...], z: int) -> float:
        """mf-prior-bench's value at fidelity ``z`` (its ``MFHartmann{3,6}.__call__``)."""
        alpha, a, p, _, _ = HARTMANN[self.dims]
        scaled = (math.log(z) - math.log(1)) / (math.log(Z_MAX) - math.log(1))
        weights = np.array(alpha) - self.bias * (1 - scaled)
        x = np.array(xs).reshape(1, -1)
        inner = np.sum(np.array(a) * (x[:, np.newaxis, :] - 0.0001 * np.array(p)) ** 2, axis=-1)
        h = -(np.sum(weights * np.exp(-inner), axis=-1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the package's seed overflows as here
            rng = np.random.default_rng(seed=abs(SEED * z * hash(xs)))
        noise = np.abs(rng.normal(size=h.size)) * self.noise * (1 - scaled)
        return float((h + noise)[0])

    def fidelity(self, epoch: int) -> int:
        return max(1, round(Z_MAX * epoch / self.max_epochs))

    def curve(self, hp: Mapping[str, Any]) -> tuple[Any, tuple[float, ...], tuple[float, ...]]:
        xs = tuple(float(hp[f"x{i}"]) for i in range(self.dims))
        values = tuple(self.value(xs, self.fidelity(e)) for e in range(1, self.max_epochs + 1))
        return xs, values, tuple(float(e) for e in range(1, self.max_epochs + 1))

    def config_text(self) -> str:
        centres = self.prior_centres(self.prior) if self.prior else None
        dims = "\n".join(
            f"  x{i}: {{kind: float, low: 0.0, high: 1.0"
            + (f", prior: {centres[i]}" if centres else "")
            + "}"
            for i in range(self.dims)
        )
        return f"""
name: {self.family.replace("_", "-")}
seed: 0
train:
  function: "mf_hartmann:never_called"
  max_epochs: {self.max_epochs}
  metric: value
  mode: min
space:
  optimizer: adam
  lr: 0.001
  batch_size: 128
  dropout: 0.0
  weight_decay: 0.0
{dims}
search: {{strategy: bayes, num_samples: 30}}
"""

    def config(self, overrides: Mapping[str, Any] | None = None, seed: int = 0) -> ExperimentConfig:
        from tabular import load_with

        return load_with(self.family, self.config_text(), overrides, seed)


def benchmarks(functions: list[str], priors: tuple[str | None, ...]) -> list[MFHartmann]:
    """``mfh3_good`` and the like, each without a prior and with each of ``priors``."""
    found = []
    for function in functions:
        dims, preset = function.removeprefix("mfh").split("_")
        found += [MFHartmann(int(dims), preset, prior) for prior in priors]
    return found


def never_called(hp: Mapping[str, Any], data: Any, report: Any, **_: Any) -> None:
    """The configs' ``train.function``: a config must name what trains, but the replay computes
    every curve itself and never runs a trial."""
    raise RuntimeError("mf_hartmann's functions are replayed by benchmarks/tabular.py, not trained")
