"""What the Ray cluster can run, and what a trial therefore asks for: GPUs per trial, how many
trials at once, and whether trials may write to a local folder.

On a cluster that autoscales, what is up when the driver starts says little: the shipped GPU
cluster starts as a head with no CPU for trials and no GPU worker. So the plan comes from what the
cluster **can** run: the live nodes, plus, where an autoscaler runs, each of its node types times
its ``max_workers`` (read from the autoscaler's config, ``~/ray_bootstrap_config.yaml`` on the
head, where ``ray up`` puts it and where Ray Tune itself looks for it). The trials' own resource
requests are what asks the autoscaler for workers: every pending trial asks for its GPU.

Example:
    >>> shape = ClusterShape((NodeKind("ray.worker.gpu", {"CPU": 8.0, "GPU": 1.0}, 4, True),
    ...                       NodeKind("head", {"CPU": 0.0}, 1, False)))
    >>> plan = plan_trials(shape, cpus_per_trial=1.0)
    >>> plan.gpus_per_trial, plan.concurrent
    (1.0, 4)
    >>> plan.reason
    '4 concurrent trials, 1 GPU each: up to 4 ray.worker.gpu nodes of 1 GPU'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from raytune_hp.errors import ConfigError

AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"
"""Where a head that runs Ray's autoscaler keeps the cluster's config (``ray up`` writes it)."""


@dataclass(frozen=True)
class NodeKind:
    """Nodes of one kind: each with ``resources`` (``CPU``, ``GPU``, ...), ``count`` of them (up
    or, when ``autoscaled``, at most as many as the autoscaler may start)."""

    name: str
    resources: Mapping[str, float]
    count: int
    autoscaled: bool

    def slots(self, cpus: float, gpus: float) -> int:
        """Trials of ``cpus`` CPUs and ``gpus`` GPUs one such node runs at once."""
        fits = [self.resources.get("CPU", 0.0) / cpus]
        if gpus > 0:
            fits.append(self.resources.get("GPU", 0.0) / gpus)
        return int(min(fits) + 1e-9)  # 0.25 GPU shares: four to a GPU, despite rounding


@dataclass(frozen=True)
class ClusterShape:
    """The nodes the cluster has, and those its autoscaler may start."""

    kinds: tuple[NodeKind, ...]

    @property
    def autoscaling(self) -> bool:
        return any(kind.autoscaled for kind in self.kinds)

    @property
    def max_nodes(self) -> int:
        """How many nodes the cluster has, or may grow to."""
        return sum(kind.count for kind in self.kinds)

    @property
    def has_gpus(self) -> bool:
        return any(kind.resources.get("GPU", 0) > 0 and kind.count > 0 for kind in self.kinds)


@dataclass(frozen=True)
class TrialPlan:
    """What each trial asks for and how many run at once, with the reason in one line."""

    gpus_per_trial: float
    concurrent: int
    reason: str


def cluster_shape(attached: bool) -> ClusterShape:
    """The shape of the cluster this process's Ray session belongs to.

    ``attached``: the driver joined a cluster that was already running (``--address``); only then
    is an autoscaler's config on this machine taken as this cluster's.
    """
    import ray

    live = [node for node in ray.nodes() if node.get("Alive")]
    return shape_of(live, _autoscaler_config() if attached else None)


def shape_of(
    live: Sequence[Mapping[str, Any]], autoscaler: Mapping[str, Any] | None
) -> ClusterShape:
    """The shape of a cluster from its live nodes (as ``ray.nodes()`` gives them) and, where an
    autoscaler runs, its config (``available_node_types``, ``max_workers``, ``head_node_type``).
    """
    config = autoscaler
    if config is None:
        return ClusterShape(tuple(_live_kinds(live)))
    types = config.get("available_node_types") or {}
    head = config.get("head_node_type")
    budget = int(config.get("max_workers", 10**9))  # workers of all types together, at most
    kinds = []
    for name, spec in types.items():
        resources = {k: float(v) for k, v in (spec.get("resources") or {}).items()}
        most = min(int(spec.get("max_workers", 0)), budget)
        if name == head or not resources or most <= 0:
            continue  # a type of unknown resources is counted by its live nodes only
        kinds.append(NodeKind(name, resources, most, autoscaled=True))
        budget -= most
    # Live nodes of no autoscaled type: the head, and any started by hand; a live worker of an
    # autoscaled type is already counted in its type's max_workers.
    typed = {tuple(sorted(kind.resources.items())) for kind in kinds}
    others = [node for node in live if _resources_key(node) not in typed]
    return ClusterShape(tuple(kinds + _live_kinds(others)))


def plan_trials(
    shape: ClusterShape,
    cpus_per_trial: float,
    gpus_per_trial: float | None = None,
    max_concurrent: int | None = None,
) -> TrialPlan:
    """GPUs per trial (one where the cluster has or can start GPUs, unless the config says) and
    how many trials run at once (what every node it has or can start runs side by side, unless
    the config says), and why.

    Raises:
        ConfigError: no node the cluster has or can start fits one trial.
    """
    gpus = gpus_per_trial if gpus_per_trial is not None else (1.0 if shape.has_gpus else 0.0)
    per_kind = [(kind, kind.slots(cpus_per_trial, gpus)) for kind in shape.kinds]
    capacity = sum(slots * kind.count for kind, slots in per_kind)
    if capacity == 0:
        nodes = "; ".join(f"{kind.name}: {_describe(kind.resources)}" for kind in shape.kinds)
        raise ConfigError(
            f"resources must fit a node the cluster has or can start ({nodes or 'no node'}); "
            f"got {_amount(cpus_per_trial, 'CPU')} and {_amount(gpus, 'GPU')} per trial"
        )
    concurrent = max_concurrent or capacity
    unit = "GPU" if gpus > 0 else "CPU"
    each = f"{_amount(gpus, 'GPU')} each" if gpus > 0 else f"{_amount(cpus_per_trial, 'CPU')} each"
    where = " and ".join(
        f"{'up to ' if kind.autoscaled else ''}{kind.count} "
        f"{kind.name + ' ' if kind.autoscaled else ''}node{'s' if kind.count != 1 else ''} "
        f"of {_amount(kind.resources.get(unit, 0.0), unit)}"
        for kind, slots in per_kind
        if slots > 0
    )
    chosen = " (search.max_concurrent)" if max_concurrent else ""
    reason = f"{concurrent} concurrent trial{'s' if concurrent != 1 else ''}{chosen}, {each}"
    reason += f": {where}" if gpus > 0 else f", no GPU: {where}"
    return TrialPlan(gpus, concurrent, reason)


def spans_nodes(shape: ClusterShape) -> bool:
    """Whether the cluster has, or can grow to, more than one node: then trials may run on
    another machine than the driver's, and every node must write to one shared storage."""
    return shape.max_nodes > 1


def _autoscaler_config() -> dict[str, Any] | None:
    path = Path(AUTOSCALER_CONFIG).expanduser()
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def _live_kinds(nodes: Sequence[Mapping[str, Any]]) -> list[NodeKind]:
    """Live nodes grouped by their resources, each group a kind."""
    groups: dict[tuple[tuple[str, float], ...], int] = {}
    for node in nodes:
        key = _resources_key(node)
        groups[key] = groups.get(key, 0) + 1
    return [
        NodeKind(_describe(dict(key)), dict(key), count, autoscaled=False)
        for key, count in groups.items()
    ]


def _resources_key(node: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    resources = node.get("Resources") or {}
    return tuple(sorted((k, float(resources[k])) for k in ("CPU", "GPU") if resources.get(k)))


def _describe(resources: Mapping[str, float]) -> str:
    parts = [_amount(resources[k], k) for k in ("CPU", "GPU") if resources.get(k)]
    return ", ".join(parts) or "no CPU, no GPU"


def _amount(value: float, unit: str) -> str:
    number = f"{value:g}"
    return f"{number} {unit}{'s' if value != 1 else ''}"
