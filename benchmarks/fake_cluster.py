"""A fake-GPU Ray cluster on this machine, private to the script that starts it.

:func:`start_cluster` makes a ``ray.cluster_utils.Cluster``: a head with no CPUs or GPUs (it runs
no trials) and worker nodes that each declare some fake GPUs and as many CPUs, so that Ray
schedules trials on them as it would on a GPU cluster, and connects this process as the driver.

Importing this module, before Ray is imported, puts Ray's files in a private ``RAY_TMPDIR``
(``/tmp/scale-ray`` unless set) without token auth and usage stats, and runs Ray's workers at
the script's own priority: the cluster lives inside the
script and never touches another Ray session on the machine, so it is shut down alone (never
``ray stop`` on a shared machine).

Example::

    cluster = start_cluster(nodes=4, gpus_per_node=8)  # 32 slots of 1 GPU and 1 CPU
    try:
        ...  # run_experiment(config) schedules its trials on the worker nodes
    finally:
        ray.shutdown()
        cluster.shutdown()
"""

from __future__ import annotations

import logging
import os
from typing import Any

# Before Ray is imported: Ray's sockets in a short private folder, apart from any other Ray
# session on the machine, and no token for a cluster that lives inside this script.
os.environ.setdefault("RAY_TMPDIR", "/tmp/scale-ray")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray starts its workers 15 steps nicer than the raylet: on a machine shared with others' jobs
# that starves the trials' wake-ups, which a real node's own cores would not.
os.environ.setdefault("RAY_worker_niceness", "0")


def start_cluster(nodes: int, gpus_per_node: int) -> Any:
    """A head that runs no trials, ``nodes`` worker nodes with ``gpus_per_node`` fake GPUs and
    as many CPUs each, and this process connected to it as the driver. The caller shuts down
    both: ``ray.shutdown()``, then the returned cluster's ``shutdown()``."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "num_gpus": 0,
            "include_dashboard": False,
            "dashboard_agent_listen_port": 0,
        },
    )
    for _ in range(nodes):
        cluster.add_node(
            num_cpus=gpus_per_node,
            num_gpus=gpus_per_node,
            dashboard_agent_listen_port=0,
        )
    cluster.wait_for_nodes()
    ray.init(
        address=cluster.address,
        logging_level=logging.WARNING,
        log_to_driver=False,
        configure_logging=True,
    )
    return cluster
