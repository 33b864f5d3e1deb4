"""Several Ray nodes on this machine (``ray.cluster_utils.Cluster``) with fake GPUs: one GPU per
trial, never shared, trials spread over nodes, a local storage folder refused unless shared, and a
node lost mid-run without losing the experiment."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from raytune_hp.config import ExperimentConfig, load_config
from raytune_hp.errors import ConfigError
from raytune_hp.experiment import run_experiment
from tests.integration.trial_folder import checkpointed_epochs

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"
TINY = [
    "space.num_kernels=100",
    "space.kernel_size=3",
    "space.batch_size=256",
    "early_stopping.name=none",
    "search.max_concurrent=4",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    import ray
    from ray.cluster_utils import Cluster

    # The head runs no trials, as on a real GPU cluster; two workers with two fake GPUs each.
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "num_gpus": 0, "dashboard_agent_listen_port": 0},
    )
    workers = [
        cluster.add_node(num_cpus=2, num_gpus=2, dashboard_agent_listen_port=0) for _ in range(2)
    ]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.workers = workers
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _config(tmp: Path, name: str, *overrides: str) -> ExperimentConfig:
    return load_config(QUICKSTART, [*TINY, *overrides, f"name={name}", f"storage={tmp}"])


def _results(trial_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def test_each_trial_gets_a_gpu_of_its_own_on_several_nodes(cluster: Any, tmp_path: Path) -> None:
    config = _config(
        tmp_path, "gpus", "shared_storage=true", "search.num_samples=4", "train.max_epochs=3"
    )
    result = run_experiment(config)
    assert [t.status for t in result.trials] == ["completed"] * 4
    spans = []
    for trial in result.trials:
        results = _results(result.exp_dir / trial.name)
        placement = {(r["node_id"], r["gpu_ids"], r["device"]) for r in results}
        assert len(placement) == 1, placement  # one place for the whole trial
        node, gpus, device = placement.pop()
        assert len(gpus.split(",")) == 1, gpus  # exactly one GPU id
        assert device == ("cuda:0" if torch.cuda.is_available() else "cpu")
        start = results[0]["timestamp"] - results[0]["time_this_iter_s"]
        spans.append((node, gpus, start, results[-1]["timestamp"]))
    assert len({node for node, *_ in spans}) == 2  # both worker nodes ran trials
    for i, (node, gpu, start, end) in enumerate(spans):
        for other_node, other_gpu, other_start, other_end in spans[i + 1 :]:
            overlap = start < other_end and other_start < end
            assert not (overlap and (node, gpu) == (other_node, other_gpu)), spans


def test_a_fraction_of_a_gpu_per_trial_shares_gpus_and_says_so(
    cluster: Any, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        "shared-gpus",
        "shared_storage=true",
        "search.num_samples=4",
        "train.max_epochs=2",
        "resources.gpus_per_trial=0.5",
        "resources.cpus_per_trial=0.5",
    )
    result = run_experiment(config)
    assert [t.status for t in result.trials] == ["completed"] * 4
    spans = []
    for trial in result.trials:
        results = _results(result.exp_dir / trial.name)
        assert {r["gpu_share"] for r in results} == {0.5}
        (node, gpus), *_ = {(r["node_id"], r["gpu_ids"]) for r in results}
        assert len(gpus.split(",")) == 1, gpus
        start = results[0]["timestamp"] - results[0]["time_this_iter_s"]
        spans.append((node, gpus, start, results[-1]["timestamp"]))
    # Never more than two half-GPU trials on one GPU at a time.
    for node, gpu, start, end in spans:
        at_once = [s for s in spans if (s[0], s[1]) == (node, gpu) and s[2] < end and start < s[3]]
        assert len(at_once) <= 2, spans


def test_local_storage_on_several_nodes_is_refused_unless_shared(
    cluster: Any, tmp_path: Path
) -> None:
    config = _config(tmp_path, "refused", "search.num_samples=1", "train.max_epochs=1")
    with pytest.raises(ConfigError, match=r"storage must be shared by all 3 nodes"):
        run_experiment(config)
    assert not (tmp_path / "refused").exists()


def test_a_lost_node_s_trials_resume_from_checkpoints_elsewhere(
    cluster: Any, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        "lost",
        "shared_storage=true",
        "search.num_samples=4",
        "train.max_epochs=8",
        "train.retries=3",
    )
    exp_dir = tmp_path / "lost"
    victim = cluster.workers[1]
    removed = threading.Event()

    def remove_a_node_mid_run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            reports = [e for e in map(checkpointed_epochs, exp_dir.glob("*/")) if e]
            if len(reports) >= 4 and min(reports) >= 2:
                cluster.remove_node(victim, allow_graceful=False)
                removed.set()
                return
            time.sleep(0.2)

    killer = threading.Thread(target=remove_a_node_mid_run, daemon=True)
    killer.start()
    result = run_experiment(config)
    killer.join(timeout=5)
    assert removed.is_set(), "the node was not removed while trials ran"
    assert [t.status for t in result.trials] == ["completed"] * 4
    assert all(t.epochs == 8 for t in result.trials)
    resumed = 0
    for trial in result.trials:
        epochs = [r["epoch"] for r in _results(exp_dir / trial.name)]
        nodes = {r["node_id"] for r in _results(exp_dir / trial.name)}
        assert epochs[-1] == 8 and epochs[0] == 1
        if len(nodes) > 1:
            # Moved to the surviving node, continued from a checkpoint: no restart at epoch 1.
            assert epochs.count(1) == 1, epochs
            resumed += 1
    assert resumed >= 1
