"""The tables as priors: each row's recommendation as a distribution over a (wider) hard range.

The tables say where practitioners tune; a search confined to them cannot find what lies outside
(a learning rate of 2e-2 for momentum, weight decay near 1e-2), while a search over wide ranges
without them wastes trials where experience says little is to be found. So the tables can shape
the search instead of walling it (πBO, Hvarfner et al. 2022; PriorBand, Mallik et al. 2023):

- ``bounds``: ``table`` keeps each row's range as the hard range; ``wide`` widens the rows a
  config leaves alone (:func:`wide_row`, :func:`wide_lr`): a log range ÷10 and ×10, powers of two
  ÷4 and ×4, a linear range by half its width each way (never below 0, nor to 0 from above),
  and where the table says so its own wide range (weight decay on a log scale to 0.1).
- ``prior``: ``uniform`` spreads the searcher's start-up draws and its prior evenly over the
  hard range (HyperOpt's own); ``tables`` centres a normal on each row's recommendation, on the
  row's search scale, truncated to the hard range, with :data:`INSIDE` of its mass inside the
  row's typical range (:func:`table_prior`); a choice weighs its recommended value
  :data:`CHOICE_BOOST` times each other one. A config may name any numeric dimension's centre
  itself (``{low, high, prior: 3e-3}``; :func:`centred_prior`).

Values live on a dimension's search scale: natural log for log-scale ones (as HyperOpt samples
them), the exponent for powers of two, the value itself otherwise.

Example:
    >>> from raytune_hp.spaces.tables import TABLES
    >>> dropout = TABLES["regularization"].rows[0]
    >>> wide_row(dropout).low, wide_row(dropout).high
    (0.0, 0.8)
    >>> prior = table_prior(dropout, 0.0, 0.8)
    >>> round(prior.center, 3), round(prior.mass_inside(0.0, 0.5), 2)
    (0.375, 0.68)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

from raytune_hp.spaces.tables import Kind, Row
from raytune_hp.values import is_number

Bounds = Literal["table", "wide"]
BOUNDS: tuple[str, ...] = ("table", "wide")
PriorShape = Literal["tables", "uniform"]
PRIOR_SHAPES: tuple[str, ...] = ("tables", "uniform")

INSIDE = 0.6
"""The share of a table prior's mass inside the row's typical range (before truncation) unless
the config says otherwise (``space.prior_strength``): how strongly the tables pull. 0.6 came
ahead of 0.8 on the search-quality benchmark (``benchmarks/search_priors.py --candidates``):
level on three of five benchmarks, clearly ahead on the digits CNN and MFHartmann-6."""
CHOICE_BOOST = 2.0
"""A choice's recommended value weighs this many times each of the others."""
OWN_SPREAD = 0.25
"""A centre the config names: the prior's spread is this share of the range, on its scale."""
WIDE_LOG_FACTOR = 10.0
"""``wide`` bounds: a log-scale range reaches this factor below and above the table's."""
WIDE_POW2_FACTOR = 4
"""``wide`` bounds: a power-of-two range reaches this factor below and above the table's."""


@dataclass(frozen=True)
class Scale:
    """How a dimension's values map to the line its prior lives on."""

    name: Literal["linear", "log", "log2"]

    def to(self, value: float) -> float:
        if self.name == "log":
            return math.log(value)
        return math.log2(value) if self.name == "log2" else float(value)

    def back(self, x: float) -> float:
        if self.name == "log":
            return math.exp(x)
        return 2.0**x if self.name == "log2" else x


def scale_of(kind: Kind, log: bool = False, is_lr: bool = False) -> Scale:
    """The search scale of a dimension of ``kind`` (``log``: an int on a log scale)."""
    if kind == "pow2":
        return Scale("log2")
    return Scale("log" if kind == "log" or log or is_lr else "linear")


@dataclass(frozen=True)
class NumericPrior:
    """A normal with ``center`` and ``spread`` (its sigma) on the search ``scale``, truncated to
    the hard range ``[low, high]`` (in values); ``named``: its centre is the config's own."""

    center: float
    spread: float
    scale: Scale
    low: float
    high: float
    named: bool = False
    inside: float = INSIDE

    @property
    def mode(self) -> float:
        """The most likely value."""
        return self.scale.back(self.center)

    def mass_inside(self, low: float, high: float) -> float:
        """The share of the (truncated) prior's mass in ``[low, high]``.

        Example:
            >>> prior = centred_prior(0.01, 1e-4, 1.0, scale_of("log"))
            >>> round(prior.mass_inside(1e-4, 1.0), 6)
            1.0
        """
        normal = NormalDist(self.center, self.spread)
        lo, hi = self._to(self.low), self._to(self.high)
        a, b = max(lo, self._to(low)), min(hi, self._to(high))
        total = normal.cdf(hi) - normal.cdf(lo)
        return max(0.0, normal.cdf(b) - normal.cdf(a)) / total if total > 0 else 0.0

    def text(self, fmt: Any = str) -> str:
        """``centred at 3.16e-3, 80% in [1e-3, 1e-2]``: the mode and the central ``inside`` of
        the untruncated normal, clipped to the hard range, each value written by ``fmt``."""
        half = NormalDist().inv_cdf(0.5 + self.inside / 2) * self.spread
        lo = max(self.low, self.scale.back(self.center - half))
        hi = min(self.high, self.scale.back(self.center + half))
        return f"centred at {fmt(self.mode)}, {self.inside:.0%} in [{fmt(lo)}, {fmt(hi)}]"

    @property
    def _linear(self) -> bool:
        return self.scale.name == "linear"

    def _to(self, value: float) -> float:
        if value <= 0 and not self._linear:
            return -math.inf
        return self.scale.to(value)


@dataclass(frozen=True)
class ChoicePrior:
    """Weights over a choice's values, in its order (they need not sum to 1)."""

    weights: tuple[float, ...]

    @property
    def probabilities(self) -> tuple[float, ...]:
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)

    def text(self, choices: tuple[Any, ...]) -> str:
        """``adam 22%, the others 11% each``, or every value's share where they differ more."""
        shares = self.probabilities
        top = max(shares)
        favoured = [c for c, s in zip(choices, shares, strict=True) if s == top]
        rest = {s for s in shares if s != top}
        if len(favoured) == 1 and len(rest) == 1:
            return f"{favoured[0]} {top:.0%}, the others {rest.pop():.0%} each"
        return ", ".join(f"{c} {s:.0%}" for c, s in zip(choices, shares, strict=True))


Prior = NumericPrior | ChoicePrior


def wide_row(row: Row) -> Row:
    """``row`` with its ``wide`` hard range: the table's own (``row.wide``) where it names one,
    else the rule for its kind (module docstring). Choices are unchanged."""
    if row.kind == "choice" or row.low is None or row.high is None:
        return row
    low, high = row.low, row.high
    # The prior keeps most of its mass where the table recommends, whatever the hard range.
    row = replace(row, typical=row.typical or (low, high))
    if row.wide is not None:
        kind, wide_low, wide_high = row.wide
        return replace(row, kind=kind, low=wide_low, high=wide_high, log=False)
    if row.kind == "log" or row.log:
        low, high = low / WIDE_LOG_FACTOR, high * WIDE_LOG_FACTOR
    elif row.kind == "pow2":
        low, high = max(1, low // WIDE_POW2_FACTOR), high * WIDE_POW2_FACTOR
    else:
        half = (high - low) / 2
        low = max(low / 2, low - half) if low > 0 else low - half if low < 0 else low
        high = high + half
    if row.kind == "int":
        low, high = math.ceil(low), math.floor(high)
    elif row.kind == "float":
        # 0.3 + 0.15 is 0.44999999999999996: round, so that a grid's 0.45 lies inside.
        low, high = round(float(low), 12), round(float(high), 12)
    return replace(row, low=low, high=high)


def wide_lr(low: float, high: float) -> tuple[float, float]:
    """An optimizer's ``wide`` learning-rate range around its table range.

    Example:
        >>> wide_lr(1e-3, 1e-2)
        (0.0001, 0.1)
    """
    return low / WIDE_LOG_FACTOR, high * WIDE_LOG_FACTOR


def table_prior(
    row: Row,
    low: float,
    high: float,
    typical: tuple[float, float] | None = None,
    scale: Scale | None = None,
    inside: float = INSIDE,
) -> NumericPrior:
    """The prior of a numeric ``row`` over the hard range ``[low, high]``.

    Its centre is the row's start where the start lies inside the typical range (the batch
    size's 128), halfway from the typical range's middle towards the start where the start sits
    on its edge (dropout's 0.5, the first layer count), and the middle where the start is no
    number (the learning rate: "the low end of the optimizer's range"; weight decay's 0 on a
    log scale). Its spread puts ``inside`` (the prior's strength; :data:`INSIDE` unless the
    config says) of the mass inside the typical range: ``typical`` (an optimizer's lr range),
    else the row's own (``row.typical``, or its table range), clipped to the hard range.
    """
    scale = scale or scale_of(row.kind, row.log)
    linear = scale.name == "linear"
    t_low, t_high = typical or row.typical or (row.low, row.high)
    assert t_low is not None and t_high is not None
    t_low, t_high = max(t_low, low), min(t_high, high)
    if t_low <= 0 and not linear:
        t_low = t_high / 100  # a log scale cannot reach 0: two decades below the top
    a, b = scale.to(t_low), scale.to(t_high)
    middle = (a + b) / 2
    start = row.start
    if not is_number(start) or isinstance(start, bool) or (start <= 0 and not linear):
        center = middle
    else:
        s = float(start) if linear else scale.to(max(start, t_low))
        s = min(max(s, a), b)
        center = s if a < s < b else (middle + s) / 2
    spread = max(b - a, 1e-12) / (2 * NormalDist().inv_cdf(0.5 + inside / 2))
    return NumericPrior(center, spread, scale, low, high, inside=inside)


def centred_prior(center: float, low: float, high: float, scale: Scale) -> NumericPrior:
    """A prior a config names: centred on ``center``, its spread :data:`OWN_SPREAD` of the hard
    range ``[low, high]`` on its scale."""
    width = scale.to(high) - scale.to(low)
    return NumericPrior(scale.to(center), OWN_SPREAD * width, scale, low, high, named=True)


def choice_prior(choices: tuple[Any, ...], start: Any) -> ChoicePrior:
    """The prior over ``choices``: the recommended ``start`` weighs :data:`CHOICE_BOOST`.

    Example:
        >>> choice_prior((1, 3, 5, 7), 3).probabilities
        (0.2, 0.4, 0.2, 0.2)
    """
    return ChoicePrior(tuple(CHOICE_BOOST if c == start else 1.0 for c in choices))
