"""What a trial asks for and how many run at once, from what the cluster has or can start: the
shipped GPU cluster from its autoscaler config before any worker is up, a machine with several
GPUs, CPUs only, shared GPUs, and the shared-storage rule on a cluster that can grow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from raytune_hp.cluster import ClusterShape, plan_trials, shape_of, spans_nodes
from raytune_hp.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _node(cpus: float, gpus: float = 0.0) -> dict[str, Any]:
    """A live node as ``ray.nodes()`` describes it."""
    resources: dict[str, float] = {"CPU": cpus, "memory": 8e9, "node:10.0.0.1": 1.0}
    if gpus:
        resources["GPU"] = gpus
    return {"Alive": True, "Resources": resources}


def _plan(shape: ClusterShape, **config: Any) -> tuple[float, int, str]:
    plan = plan_trials(shape, config.pop("cpus", 1.0), **config)
    return plan.gpus_per_trial, plan.concurrent, plan.reason


def test_the_shipped_gpu_cluster_is_planned_before_any_worker_is_up() -> None:
    # What the driver sees at its start on the shipped cluster: a head with no CPU for trials.
    autoscaler = yaml.safe_load((REPO / "cluster" / "gpu.yaml").read_text())
    shape = shape_of([_node(0)], autoscaler)
    assert _plan(shape) == (
        1.0, 4, "4 concurrent trials, 1 GPU each: up to 4 ray.worker.gpu nodes of 1 GPU",
    )  # fmt: skip
    assert shape.autoscaling and spans_nodes(shape)


def test_a_worker_already_up_is_not_counted_twice() -> None:
    autoscaler = {
        "max_workers": 2,
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 0}, "max_workers": 0},
            "ray.worker.gpu": {
                "resources": {"CPU": 2, "GPU": 2},
                "min_workers": 0,
                "max_workers": 2,
            },
        },
    }
    for live in ([_node(0)], [_node(0), _node(2, 2)], [_node(0), _node(2, 2), _node(2, 2)]):
        assert _plan(shape_of(live, autoscaler)) == (
            1.0, 4, "4 concurrent trials, 1 GPU each: up to 2 ray.worker.gpu nodes of 2 GPUs",
        )  # fmt: skip


def test_the_global_max_workers_caps_every_type_together() -> None:
    autoscaler = {
        "max_workers": 3,
        "available_node_types": {
            "big": {"resources": {"CPU": 8, "GPU": 4}, "max_workers": 2},
            "small": {"resources": {"CPU": 4, "GPU": 1}, "max_workers": 5},
        },
    }
    gpus, concurrent, reason = _plan(shape_of([_node(0)], autoscaler))
    assert (gpus, concurrent) == (1.0, 2 * 4 + 1 * 1)
    assert reason.endswith("up to 2 big nodes of 4 GPUs and up to 1 small node of 1 GPU")


def test_one_machine_with_four_gpus_runs_a_trial_per_gpu() -> None:
    shape = shape_of([_node(16, 4)], None)
    assert _plan(shape) == (1.0, 4, "4 concurrent trials, 1 GPU each: 1 node of 4 GPUs")
    assert not spans_nodes(shape)
    # Fewer CPUs than GPUs: each trial still needs its CPU.
    assert _plan(shape_of([_node(2, 4)], None))[1] == 2


def test_cpus_only_and_shared_gpus() -> None:
    assert _plan(shape_of([_node(2)], None)) == (
        0.0, 2, "2 concurrent trials, 1 CPU each, no GPU: 1 node of 2 CPUs",
    )  # fmt: skip
    assert _plan(shape_of([_node(8, 1)], None), gpus_per_trial=0.25)[:2] == (0.25, 4)
    assert _plan(shape_of([_node(8, 2)], None), cpus=2.0)[:2] == (1.0, 2)


def test_the_config_says_how_many_at_once() -> None:
    gpus, concurrent, reason = _plan(shape_of([_node(16, 4)], None), max_concurrent=2)
    assert (gpus, concurrent) == (1.0, 2)
    assert reason.startswith("2 concurrent trials (search.max_concurrent), 1 GPU each")


def test_a_trial_no_node_can_run_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError) as error:
        plan_trials(shape_of([_node(2)], None), 1.0, gpus_per_trial=1.0)
    assert str(error.value) == (
        "resources must fit a node the cluster has or can start (2 CPUs: 2 CPUs); got 1 CPU and "
        "1 GPU per trial"
    )


def test_a_cluster_of_several_nodes_needs_shared_storage() -> None:
    assert spans_nodes(shape_of([_node(0), _node(2, 2)], None))
    assert not spans_nodes(shape_of([_node(2)], None))
    # An autoscaler that may start workers: several nodes soon, even while only the head is up.
    autoscaler = {"available_node_types": {"w": {"resources": {"CPU": 2}, "max_workers": 1}}}
    assert spans_nodes(shape_of([_node(0)], autoscaler))
