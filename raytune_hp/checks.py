"""``raytune-hp check``: the rules of thumb practitioners check by hand before a search.

Each finding says what, why and what to do. Capacity: trainable parameters at most half the
training samples, ideally a tenth. Batch sizes powers of two; BatchNorm not with batches under 16;
no dropout directly before BatchNorm; an RNN's dropout only on its input and output; a grid only
over at most 4 hyperparameters; every seed fixed; and how big the space is.

Example:
    >>> from raytune_hp.config import load_config
    >>> report = run_checks(load_config("configs/quickstart.yaml"))  # doctest: +SKIP
    >>> report.blocking  # doctest: +SKIP
    False
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from raytune_hp.budget import budget_plan
from raytune_hp.config import ExperimentConfig
from raytune_hp.models import CAPACITY_IDEAL, capacity_limit
from raytune_hp.spaces import (
    LR,
    MAX_GRID_DIMENSIONS,
    SearchSpace,
    grid_size,
    oversized_grid,
    start_point,
)
from raytune_hp.values import is_pow2, powers_of_two

Level = Literal["blocking", "warning", "ok"]
SMALL_BATCH_FOR_BATCHNORM = 16


@dataclass(frozen=True)
class Finding:
    """One check's verdict: what was found, why it matters, what to do."""

    level: Level
    what: str
    why: str = ""
    fix: str = ""

    def line(self) -> str:
        parts = [f"{self.level.upper():8} {self.what}"]
        if self.why:
            parts.append(f"why: {self.why}")
        if self.fix:
            parts.append(f"do: {self.fix}")
        return "\n         ".join(parts)


@dataclass(frozen=True)
class CheckReport:
    """All findings, with the numbers behind the capacity rule."""

    findings: list[Finding] = field(default_factory=list)
    train_samples: int = 0
    params_start: int = 0
    params_largest: int = 0

    @property
    def blocking(self) -> bool:
        return any(f.level == "blocking" for f in self.findings)


def run_checks(
    config: ExperimentConfig, data: Any = None, builder: Callable[..., Any] | None = None
) -> CheckReport:
    """Runs every check on ``config``: the recommended and the largest configuration's model are
    built (not trained) and compared with the training data.

    ``data`` and ``builder`` default to the config's own (built-in or named by import path). Of
    the data only its training-set size, input shape and outputs are read, so every form works
    (:class:`raytune_hp.data.TrainingData`).
    """
    from raytune_hp.models import count_parameters
    from raytune_hp.user_code import UserCode

    code = UserCode.of(config)
    data = data if data is not None else code.dataset(config)
    space = config.search_space()
    samples = data.train_size
    builder = builder or code.model_builder(config)
    if builder is None:
        # A training function that builds its own model: nothing here can count its parameters.
        findings = [
            _no_model(config),
            *_batch_sizes(space, None),
            *_grid(config, space),
            _seeds(config),
            _space_size(config, space),
        ]
        return CheckReport(findings, samples)
    model_start, model_largest = _extreme_models(space, data, builder)
    params_start, params_largest = count_parameters(model_start), count_parameters(model_largest)
    findings = [
        *_capacity(config, samples, params_start, params_largest),
        *_batch_sizes(space, model_largest),
        *_dropout_before_batchnorm(model_largest),
        *_rnn_dropout(model_largest),
        *_grid(config, space),
        _seeds(config),
        _space_size(config, space),
    ]
    return CheckReport(findings, samples, params_start, params_largest)


def capacity_findings(
    config: ExperimentConfig, data: Any, builder: Callable[..., Any]
) -> list[Finding]:
    """The capacity rule's findings alone, for the recommended and the largest configuration
    (``tune`` says them once at its start)."""
    from raytune_hp.models import count_parameters

    start, largest = _extreme_models(config.search_space(), data, builder)
    return _capacity(config, data.train_size, count_parameters(start), count_parameters(largest))


def _extreme_models(space: SearchSpace, data: Any, builder: Callable[..., Any]) -> tuple[Any, Any]:
    """The models of the recommended and of the largest configuration, built, not trained."""
    shape, outputs = data.input_shape, data.num_outputs
    return builder(start_point(space), shape, outputs), builder(
        largest_point(space), shape, outputs
    )


def _no_model(config: ExperimentConfig) -> Finding:
    return Finding(
        "ok",
        f"model: not checked: train.function ({config.train.function}) builds its own model, so "
        "its parameters (the capacity rule), BatchNorm and dropout placement cannot be seen "
        "from here; the space, the batch sizes, the grid and the seeds are checked",
        fix="give model.builder (the function that builds the model) to have them checked too",
    )


def largest_point(space: SearchSpace) -> dict[str, Any]:
    """The configuration with every size at its largest: numeric ranges at their high end,
    numeric choices at their maximum, switches on; the rest as recommended."""
    point = start_point(space)
    for dim in space.dims:
        if dim.fixed or dim.name == LR or dim.name not in point:
            continue
        if dim.kind == "choice":
            values = list(dim.choices)
            if all(isinstance(v, (int, float)) for v in values):  # bools too: True is larger
                point[dim.name] = max(values)
        else:
            high = dim.bounds[1]
            point[dim.name] = int(high) if dim.kind in ("int", "pow2") else high
    return point


def _capacity(
    config: ExperimentConfig, samples: int, params_start: int, params_largest: int
) -> list[Finding]:
    limit, ideal = capacity_limit(samples), math.floor(CAPACITY_IDEAL * samples)
    numbers = (
        f"{samples:,} training samples: at most {limit:,} parameters (½), ideally {ideal:,} (1/10)"
    )
    why = (
        "a model with more parameters than half its training samples can memorise them and "
        "learns little that generalises; its trials waste the budget"
    )
    skip = config.train.capacity == "skip"
    findings = []
    if params_start > limit:
        level: Level = "blocking" if skip else "warning"
        findings.append(
            Finding(
                level,
                f"capacity: the recommended configuration's model has {params_start:,} trainable "
                f"parameters ({params_start / samples:.1f} per sample) for {numbers}",
                why,
                "a smaller model (fewer kernels, units or layers) or more data"
                + (
                    "; train.capacity: skip (set here) skips it before it trains: leave capacity "
                    "at warn to train it anyway"
                    if skip
                    else ""
                ),
            )
        )
    elif params_start > ideal:
        findings.append(
            Finding(
                "warning",
                f"capacity: the recommended model has {params_start:,} parameters, within the ½ "
                f"rule but above the ideal 1/10 for {numbers}",
                why,
                "prefer the smaller end of the size ranges",
            )
        )
    if params_largest > limit and params_largest > params_start:
        fate = (
            "will be skipped (train.capacity: skip)"
            if skip
            else "are trained and marked in the summary (train.capacity: warn)"
        )
        findings.append(
            Finding(
                "warning",
                f"capacity: the largest configuration has {params_largest:,} parameters "
                f"({params_largest / samples:.1f} per sample); configurations above {limit:,} "
                f"{fate}",
                why,
                "narrow the size ranges in space so the budget goes to models that can learn",
            )
        )
    if not findings:
        findings.append(
            Finding("ok", f"capacity: {params_largest:,} parameters at most, for {numbers}")
        )
    return findings


def _batch_sizes(space: SearchSpace, model: Any) -> list[Finding]:
    if "batch_size" not in space:
        return []
    dim = space["batch_size"]
    if dim.kind == "pow2" and not dim.fixed:
        values = [int(dim.bounds[0]), int(dim.bounds[1])]
    else:
        values = [int(v) for v in dim.choices_or_range()]
    findings = []
    odd = [v for v in values if not is_pow2(v)]
    what = f"batch size: {odd} not a power of two" if odd else ""
    # An integer range holds every integer between its bounds: [2, 4] has 3 in it.
    if dim.kind == "int" and not dim.fixed and (odd or values[1] - values[0] > 1):
        scale = " on a log scale" if dim.row.log else ""
        what = f"batch size: integers{scale} in {values}, not only powers of two"
    if what:
        findings.append(
            Finding(
                "warning",
                what,
                "powers of two fill the hardware's vector units and memory pages evenly",
                "use powers of two (space.batch_size: {low: 32, high: 256})",
            )
        )
    if model is not None and _has(model, "BatchNorm") and min(values) < SMALL_BATCH_FOR_BATCHNORM:
        findings.append(
            Finding(
                "warning",
                f"BatchNorm with batch sizes from {min(values)}, under {SMALL_BATCH_FOR_BATCHNORM}",
                "batch statistics from a handful of samples are noisy; training becomes unstable",
                f"batch_size low ≥ {SMALL_BATCH_FOR_BATCHNORM}, or GroupNorm/LayerNorm",
            )
        )
    if not findings:
        findings.append(
            Finding("ok", f"batch sizes: powers of two in [{min(values)}, {max(values)}]")
        )
    return findings


def _dropout_before_batchnorm(model: Any) -> list[Finding]:
    from torch import nn

    leaves = [m for m in model.modules() if not list(m.children())]
    pairs = [
        (a, b)
        for a, b in itertools.pairwise(leaves)
        if isinstance(a, nn.Dropout) and type(b).__name__.startswith("BatchNorm")
    ]
    if not pairs:
        return []
    return [
        Finding(
            "warning",
            f"dropout directly before BatchNorm ({len(pairs)} place(s))",
            "dropout changes the variance BatchNorm sees in training but not at inference "
            "(variance shift): the model behaves differently when evaluated",
            "put dropout after the last BatchNorm, or drop one of the two",
        )
    ]


def _rnn_dropout(model: Any) -> list[Finding]:
    from torch import nn

    inside = [m for m in model.modules() if isinstance(m, nn.RNNBase) and m.dropout > 0]
    if not inside:
        return []
    return [
        Finding(
            "warning",
            f"dropout inside an RNN's recurrence ({inside[0].__class__.__name__}"
            f"(dropout={inside[0].dropout}))",
            "the tables put dropout on an RNN's input and output layers only",
            "dropout=0 in the recurrent module; nn.Dropout before and after it",
        )
    ]


def _grid(config: ExperimentConfig, space: SearchSpace) -> list[Finding]:
    if config.search.strategy != "grid":
        return []
    size = oversized_grid(space, config.search.grid_points)
    if size is None:
        return []
    return [
        Finding(
            "warning",
            f"grid over {len(space.tuned)} hyperparameters ({size:,} trials), forced",
            f"a grid grows exponentially; more than {MAX_GRID_DIMENSIONS} hyperparameters "
            "waste most trials on unimportant ones",
            "random or bayes, or fix the hyperparameters that matter little",
        )
    ]


def _seeds(config: ExperimentConfig) -> Finding:
    return Finding(
        "ok",
        f"seeds: fixed at {config.seed} (the searcher, every trial's torch, NumPy and Python "
        "generators, and the data split)",
    )


def _space_size(config: ExperimentConfig, space: SearchSpace) -> Finding:
    tuned = [dim for dim in space.dims if not dim.fixed]
    continuous = [d.name for d in tuned if d.kind in ("log", "float")]
    discrete = [d for d in tuned if d.kind not in ("log", "float")]
    combos = math.prod(_count(d) for d in discrete)
    grid = grid_size(space, config.search.grid_points)
    return Finding(
        "ok",
        f"space: {len(tuned)} tuned hyperparameters; {combos:,} discrete combinations"
        + (f" × {len(continuous)} continuous ({', '.join(continuous)})" if continuous else "")
        + f"; a {config.search.grid_points}-point grid would be {grid:,} trials; "
        + f"budget {budget_plan(config)}",
    )


def _count(dim: Any) -> int:
    if dim.kind == "choice":
        return len(dim.choices)
    low, high = dim.bounds
    if dim.kind == "pow2":
        return len(powers_of_two(low, high))
    return int(high - low) + 1


def _has(model: Any, kind: str) -> bool:
    return any(type(m).__name__.startswith(kind) for m in model.modules())


def format_report(report: CheckReport, source: str) -> str:
    """The findings as text, blocking first."""
    order = {"blocking": 0, "warning": 1, "ok": 2}
    lines = [f"raytune-hp check {source}"]
    lines += [f.line() for f in sorted(report.findings, key=lambda f: order[f.level])]
    verdict = "blocking problems found" if report.blocking else "no blocking problem"
    lines.append(f"{verdict}: {sum(f.level != 'ok' for f in report.findings)} finding(s)")
    return "\n".join(lines) + "\n"
